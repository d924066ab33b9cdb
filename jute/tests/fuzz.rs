//! Fuzz-ish robustness: feed random bytes, random truncations and random
//! mutations of valid encodings to every decoder. Decoding must never panic
//! (a panic fails the test), must never report consuming more than it was
//! given, and whatever does decode must re-encode to something stable.

mod common;

use bytes::BytesMut;
use common::*;
use jute::*;

/// Interesting 32-bit values to splice over length prefixes.
const LENGTHS: [i32; 12] = [
    -1,
    -2,
    0,
    1,
    2,
    9,
    0x7fff_ffff,
    i32::MIN,
    0x0010_0000,
    0x0000_ffff,
    -1000,
    64,
];

/// Iteration multiplier: `JUTE_FUZZ_SCALE=50 cargo test -p jute --release --test fuzz`
/// for a longer run.
fn scale() -> usize {
    std::env::var("JUTE_FUZZ_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut v = base.to_vec();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        match rng.below(7) {
            // flip a byte
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            // random byte
            1 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = rng.next_u64() as u8;
            }
            // splice an interesting length at a random offset
            2 if v.len() >= 4 => {
                let i = rng.below(v.len() - 3);
                let l = LENGTHS[rng.below(LENGTHS.len())];
                v[i..i + 4].copy_from_slice(&l.to_be_bytes());
            }
            // truncate
            3 => {
                let n = rng.below(v.len() + 1);
                v.truncate(n);
            }
            // insert random bytes
            4 => {
                let i = rng.below(v.len() + 1);
                let n = rng.below(9);
                let extra = rng.bytes(n);
                v.splice(i..i, extra);
            }
            // delete a range
            5 if !v.is_empty() => {
                let i = rng.below(v.len());
                let j = (i + 1 + rng.below(8)).min(v.len());
                v.drain(i..j);
            }
            // append garbage
            _ => {
                let n = rng.below(16);
                let extra = rng.bytes(n);
                v.extend(extra);
            }
        }
    }
    v
}

#[test]
fn random_bytes_never_panic() {
    let samples = all();
    let mut rng = Rng::new(0x5eed_0001);
    for _ in 0..300 * scale() {
        let len = rng.below(200);
        let buf = rng.bytes(len);
        for s in &samples {
            let _ = s.decode_as(&buf);
            s.decode_reencode(&buf);
        }
    }
}

#[test]
fn mutated_encodings_never_panic() {
    let samples = all();
    let mut rng = Rng::new(0xdead_beef_cafe);
    for s in &samples {
        let base = s.bytes();
        for _ in 0..400 * scale() {
            let buf = mutate(&mut rng, &base);
            let _ = s.decode_as(&buf);
            s.decode_reencode(&buf);
            // Also feed it to every other decoder: type confusion must be safe too.
            let other = &samples[rng.below(samples.len())];
            let _ = other.decode_as(&buf);
        }
    }
}

#[test]
fn every_truncation_of_every_sample_is_safe_for_every_decoder() {
    let samples = populated();
    for s in &samples {
        let base = s.bytes();
        for n in 0..=base.len() {
            for d in &samples {
                let _ = d.decode_as(&base[..n]);
            }
        }
    }
}

/// Read through `Record::read` directly and check the remainder is a suffix
/// of the input (no reported over-consumption).
fn check_read<T: Record>(buf: &[u8]) {
    if let Ok((rest, _)) = T::read(buf) {
        assert!(rest.len() <= buf.len());
        assert_eq!(rest, &buf[buf.len() - rest.len()..]);
    }
}

#[test]
fn remainders_are_suffixes() {
    let mut rng = Rng::new(42);
    let base = multi_response().encode();
    for _ in 0..2000 * scale() {
        let buf = mutate(&mut rng, &base);
        check_read::<MultiResponse>(&buf);
        check_read::<MultiRequest>(&buf);
        check_read::<ConnectRequest>(&buf);
        check_read::<GetChildren2Response>(&buf);
        check_read::<SetWatches2>(&buf);
        check_read::<MultiTxn>(&buf);
    }
}

/// Frames that claim enormous element counts must be rejected cheaply.
#[test]
fn adversarial_counts_are_cheap() {
    let start = std::time::Instant::now();
    for count in [i32::MAX, 0x1000_0000, 0x00ff_ffff] {
        let mut buf = BytesMut::new();
        // SetWatches2 with a huge data_watches count
        buf.extend_from_slice(&0i64.to_be_bytes());
        buf.extend_from_slice(&count.to_be_bytes());
        buf.extend_from_slice(&[0; 32]);
        assert!(SetWatches2::decode(&buf).is_err());
        // MultiTxn with a huge txns count
        let mut buf = count.to_be_bytes().to_vec();
        buf.extend_from_slice(&[0; 32]);
        assert!(MultiTxn::decode(&buf).is_err());
        assert!(GetAclResponse::decode(&buf).is_err());
        assert!(WhoAmIResponse::decode(&buf).is_err());
    }
    // Many small vectors that are each plausible: 1 MiB of "count 0" entries.
    let mut buf = (1i32 << 18).to_be_bytes().to_vec();
    buf.extend(std::iter::repeat_n(0u8, 1 << 20));
    let r = <Vec<Vec<i32>>>::read_field(&buf).unwrap().1;
    assert_eq!(r.len(), 1 << 18);
    assert!(start.elapsed().as_secs() < 10);
}

/// A long multi made of minimal ops decodes iteratively (no recursion).
#[test]
fn long_multi_is_fine() {
    let mut buf = Vec::new();
    for _ in 0..50_000 {
        buf.extend_from_slice(
            &MultiHeader {
                op_type: 13,
                done: false,
                err: -1,
            }
            .encode(),
        );
        buf.extend_from_slice(&CheckVersionRequest::default().encode());
    }
    buf.extend_from_slice(
        &MultiHeader {
            op_type: -1,
            done: true,
            err: -1,
        }
        .encode(),
    );
    assert_eq!(MultiRequest::decode(&buf).unwrap().ops.len(), 50_000);
}
