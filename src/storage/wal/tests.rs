use std::os::unix::fs::FileExt;
use std::sync::mpsc;

use super::*;

fn record(i: u64) -> Vec<u8> {
    format!("record {i} ")
        .repeat(1 + (i % 7) as usize)
        .into_bytes()
}

/// Append `from..to` in batches of `batch` and wait until they are durable.
fn append(wal: &Wal, from: u64, to: u64, batch: u64) {
    let (tx, rx) = mpsc::channel();
    let mut n = 0;
    let mut i = from;
    while i < to {
        let end = (i + batch).min(to);
        let tx = tx.clone();
        wal.append(
            (i..end).map(|j| (j, record(j))).collect(),
            Box::new(move |r| tx.send(r).unwrap()),
        )
        .unwrap();
        n += 1;
        i = end;
    }
    for _ in 0..n {
        rx.recv().unwrap().unwrap();
    }
}

fn read_all(wal: &Wal) -> Vec<u64> {
    let (Some(first), Some(last)) = (wal.first_index(), wal.last_index()) else {
        return Vec::new();
    };
    let got = wal.read(first, last + 1).unwrap();
    for (i, payload) in &got {
        assert_eq!(payload, &record(*i), "record {i}");
    }
    got.into_iter().map(|(i, _)| i).collect()
}

/// Opening the log must fail, saying `why`.
fn refused(dir: &Path, segment_bytes: u64, why: &str) {
    let err = Wal::open_with(dir, segment_bytes)
        .err()
        .expect("must not open");
    assert!(err.to_string().contains(why), "{err}");
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| segment::parse_name(p).is_some())
        .collect();
    v.sort();
    v
}

#[test]
fn records_survive_reopen_across_segment_rollover() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open_with(dir.path(), 4096).unwrap();
    append(&wal, 1, 500, 13);
    assert_eq!(read_all(&wal), (1..500).collect::<Vec<_>>());
    drop(wal);
    let files = segments(dir.path());
    assert!(files.len() > 5, "small segments roll over: {files:?}");
    let wal = Wal::open_with(dir.path(), 4096).unwrap();
    assert_eq!(read_all(&wal), (1..500).collect::<Vec<_>>());
    // Every segment after the first carries a copy of the record before it.
    append(&wal, 500, 520, 1);
    assert_eq!(wal.last_index(), Some(519));
}

#[test]
fn purge_deletes_whole_segments_and_keeps_the_purge_point() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open_with(dir.path(), 4096).unwrap();
    append(&wal, 1, 300, 10);
    wal.purge(150, b"unused".to_vec()).unwrap();
    append(&wal, 300, 301, 1); // the purge ran before this completed
    let first = wal.first_index().unwrap();
    assert!(first > 1 && first <= 151, "first kept {first}");
    assert_eq!(
        wal.prev(),
        Some(record(first - 1)),
        "prev is the record before"
    );
    drop(wal);
    let wal = Wal::open_with(dir.path(), 4096).unwrap();
    assert_eq!(wal.first_index(), Some(first));
    assert_eq!(wal.prev(), Some(record(first - 1)));
    // Purging everything leaves an empty log that remembers the purge point.
    wal.purge(1000, b"purged at 1000".to_vec()).unwrap();
    append(&wal, 1001, 1003, 1);
    drop(wal);
    let wal = Wal::open_with(dir.path(), 4096).unwrap();
    assert_eq!(read_all(&wal), vec![1001, 1002]);
    assert_eq!(wal.prev(), Some(b"purged at 1000".to_vec()));
}

#[tokio::test]
async fn truncate_removes_the_newest_records_durably() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open_with(dir.path(), 4096).unwrap();
    append(&wal, 1, 400, 7);
    wal.truncate_after(Some(123)).await.unwrap();
    assert_eq!(wal.last_index(), Some(123));
    append(&wal, 124, 130, 2);
    drop(wal);
    let wal = Wal::open_with(dir.path(), 4096).unwrap();
    assert_eq!(read_all(&wal), (1..130).collect::<Vec<_>>());
    wal.truncate_after(None).await.unwrap();
    assert_eq!(wal.last_index(), None);
}

#[test]
fn appends_out_of_order_fail_and_stop_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open_with(dir.path(), 1 << 20).unwrap();
    append(&wal, 1, 3, 1);
    let (tx, rx) = mpsc::channel();
    let t = tx.clone();
    wal.append(vec![(7, record(7))], Box::new(move |r| t.send(r).unwrap()))
        .unwrap();
    assert!(rx.recv().unwrap().is_err());
    wal.append(vec![(3, record(3))], Box::new(move |r| tx.send(r).unwrap()))
        .unwrap();
    assert!(
        rx.recv().unwrap().is_err(),
        "a failed log acknowledges nothing"
    );
}

/// Append `1..to` in batches of `batch` to a fresh log of `segment_bytes` segments in
/// `dir`, close it, and open its first segment for writing (to damage it), with the
/// offsets of that segment's frames.
fn written_first_segment(dir: &Path, segment_bytes: u64, to: u64, batch: u64) -> (File, Vec<u32>) {
    let wal = Wal::open_with(dir, segment_bytes).unwrap();
    append(&wal, 1, to, batch);
    let offsets = wal.index.read().segments[0].offsets.clone();
    drop(wal);
    let first = &segments(dir)[0];
    let file = std::fs::OpenOptions::new().write(true).open(first).unwrap();
    (file, offsets)
}

/// Write 50 records into one segment, then damage the file as `damage` says and reopen.
fn damaged_reopen(damage: impl FnOnce(&File, &[u32])) -> (io::Result<Wal>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let (file, offsets) = written_first_segment(dir.path(), 1 << 20, 51, 5);
    damage(&file, &offsets);
    file.sync_all().unwrap();
    (Wal::open_with(dir.path(), 1 << 20), dir)
}

#[test]
fn a_torn_last_entry_is_cut_and_the_log_carries_on() {
    // The sectors from the middle of one entry on never reached the disk.
    let mut torn_at = 0;
    let (wal, _dir) = damaged_reopen(|f, offsets| {
        let (i, boundary) = offsets
            .windows(2)
            .enumerate()
            .find_map(|(i, w)| {
                let next_sector = (w[0] as u64 / 512 + 1) * 512;
                (next_sector < w[1] as u64 && i > 10).then_some((i, next_sector))
            })
            .unwrap();
        torn_at = i as u64 + 1; // the index of the entry straddling the boundary
        let len = f.metadata().unwrap().len();
        f.set_len(boundary).unwrap();
        f.set_len(len).unwrap();
    });
    let wal = wal.unwrap();
    assert_eq!(wal.last_index(), Some(torn_at - 1));
    append(&wal, torn_at, 60, 3);
    assert_eq!(read_all(&wal), (1..60).collect::<Vec<_>>());
}

#[test]
fn a_torn_header_past_the_zero_tail_is_cut() {
    // Bytes of a write whose first sector never landed.
    let (wal, _dir) = damaged_reopen(|f, offsets| {
        let end = offsets[49] as u64 + 200;
        f.write_all_at(&[0u8; 4096], offsets[45] as u64).unwrap();
        f.write_all_at(b"garbage", end + 2048).unwrap();
    });
    let wal = wal.unwrap();
    assert_eq!(wal.last_index(), Some(45));
}

#[test]
fn a_zero_filled_preallocated_tail_is_just_the_end() {
    let (wal, _dir) = damaged_reopen(|_, _| {});
    assert_eq!(wal.unwrap().last_index(), Some(50));
}

#[test]
fn a_bad_checksum_before_the_tail_refuses_to_open() {
    let (wal, _dir) = damaged_reopen(|f, offsets| {
        // One flipped byte in entry 20's payload: bit rot, not a torn write.
        f.write_all_at(b"X", offsets[19] as u64 + 20).unwrap();
    });
    let err = wal.err().expect("must not open");
    let msg = err.to_string();
    assert!(
        msg.contains("checksum mismatch") && msg.contains("index 20"),
        "{msg}"
    );
    assert!(msg.contains(".wal"), "names the file: {msg}");
}

#[test]
fn damage_in_an_older_segment_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let (file, _) = written_first_segment(dir.path(), 4096, 200, 10);
    // Even a "torn-looking" zero sector is damage in a segment that was synced whole.
    let len = file.metadata().unwrap().len();
    file.set_len(200).unwrap();
    file.set_len(len).unwrap();
    let err = Wal::open_with(dir.path(), 4096)
        .err()
        .expect("must not open");
    assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
}

#[test]
fn a_torn_looking_entry_with_much_log_after_it_is_damage() {
    // Synced long ago: a flipped byte and a zeroed sector share in entry 10, with more
    // than the unsynced window of records after it. Cutting there would drop them.
    let dir = tempfile::tempdir().unwrap();
    let (file, offsets) = written_first_segment(dir.path(), 64 << 20, 100_001, 1000);
    let at = offsets[9] as u64;
    let next_sector = (at / 512 + 1) * 512;
    let end = offsets[10] as u64;
    // The frame's share of the next sector, or its payload's tail, reads as zeros.
    let from = if next_sector < end {
        next_sector
    } else {
        at + 17
    };
    file.write_all_at(&vec![0u8; (end - from) as usize], from)
        .unwrap();
    file.sync_all().unwrap();
    refused(
        dir.path(),
        64 << 20,
        "damaged entry with more of the log after it",
    );
}

#[test]
fn an_unfinished_purge_of_everything_is_finished_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open_with(dir.path(), 1 << 20).unwrap();
    append(&wal, 1, 51, 5);
    let old = segments(dir.path())[0].clone();
    let saved = std::fs::read(&old).unwrap();
    wal.purge(100, b"purged at 100".to_vec()).unwrap();
    append(&wal, 101, 103, 1);
    drop(wal);
    // The crash came before the old segment's deletion was durable.
    std::fs::write(&old, saved).unwrap();
    let wal = Wal::open_with(dir.path(), 1 << 20).unwrap();
    assert_eq!(read_all(&wal), vec![101, 102]);
    assert_eq!(wal.prev(), Some(b"purged at 100".to_vec()));
    assert!(!old.exists(), "the purge was finished");
}

/// The newest segment as a crash while creating it can leave it: a header that copies
/// a 3,000-byte entry (seven sectors), of which the second sector never reached the
/// disk; `after` bytes written past the header (none, if it really was a creation).
fn torn_new_segment(dir: &Path, first: u64, after: &[u8]) -> PathBuf {
    let header = segment::encode_header(first, Some(&[7u8; 3000]));
    let mut bytes = header.clone();
    bytes[512..1024].fill(0);
    bytes.extend_from_slice(after);
    bytes.resize(64 << 10, 0);
    let path = dir.join(segment::file_name(first));
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn a_torn_header_of_the_newest_segment_is_a_creation_that_did_not_complete() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open_with(dir.path(), 1 << 20).unwrap();
    append(&wal, 1, 41, 4);
    drop(wal);
    let torn = torn_new_segment(dir.path(), 41, &[]);
    let wal = Wal::open_with(dir.path(), 1 << 20).unwrap();
    assert_eq!(read_all(&wal), (1..41).collect::<Vec<_>>());
    assert!(!torn.exists(), "the torn segment is removed");
    append(&wal, 41, 45, 1);
    assert_eq!(read_all(&wal), (1..45).collect::<Vec<_>>());
}

#[test]
fn a_torn_looking_header_with_bytes_after_it_or_before_the_newest_is_damage() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open_with(dir.path(), 1 << 20).unwrap();
    append(&wal, 1, 41, 4);
    drop(wal);
    // Frames after it: the header was complete once, so this is damage.
    let torn = torn_new_segment(dir.path(), 41, b"\x05\0\0\0entry");
    refused(dir.path(), 1 << 20, "header checksum mismatch");
    // Not the newest segment: it was synced before the next one was made.
    std::fs::remove_file(&torn).unwrap();
    torn_new_segment(dir.path(), 41, &[]);
    std::fs::write(
        dir.path().join(segment::file_name(50)),
        segment::encode_header(50, None),
    )
    .unwrap();
    refused(dir.path(), 1 << 20, "header checksum mismatch");
}

#[test]
fn a_damaged_header_length_on_a_live_segment_is_damage_not_a_torn_creation() {
    // The newest segment holds entries; its header's length field is damaged so that
    // the header seems to run past the end of the file. Removing it would lose them.
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open_with(dir.path(), 1 << 20).unwrap();
    append(&wal, 1, 41, 4);
    drop(wal);
    let path = segments(dir.path()).pop().unwrap();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.write_all_at(&(2u32 << 20).to_le_bytes(), 20).unwrap();
    file.sync_all().unwrap();
    refused(dir.path(), 1 << 20, "bad header length");
    assert!(path.exists(), "the segment is kept");
}
