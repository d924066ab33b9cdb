//! Path rules: ZooKeeper's `PathUtils.validatePath` and the `lastIndexOf('/')` parent
//! split its request processor uses.
//!
//! Two different notions of "parent" exist in ZooKeeper and both are reproduced here:
//! writes split a path at its last `/` *before* validating it (so `create /a/` with a
//! sequential flag is legal and yields `/a/0000000000`), and the root is stored under
//! the alias `""` as well as `"/"`. zkd stores the root only as `"/"`; [`split`] maps the
//! `""` parent of a top-level node to `"/"`.

/// The paths ZooKeeper refuses to delete (`DataTree.isSpecialPath`).
/// Where an ensemble publishes its membership.
pub const CONFIG_PATH: &str = "/zookeeper/config";

pub const SPECIAL_PATHS: [&str; 4] = ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"];

/// `true` if `path` is one of [`SPECIAL_PATHS`].
pub fn is_special(path: &str) -> bool {
    SPECIAL_PATHS.contains(&path)
}

/// ZooKeeper's `PathUtils.validatePath`: non-empty, starts with `/`, `/` alone is the
/// root, no trailing `/`, no empty segment, no `.` or `..` segment, and no NUL, no
/// U+0001..U+001F, U+007F..U+009F, U+D800..U+F8FF or U+FFF0..U+FFFF. Java checks UTF-16
/// code units, so every supplementary (non-BMP) character is rejected through its
/// surrogates.
pub fn validate_path(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    if rest.ends_with('/') {
        return false;
    }
    rest.split('/')
        .all(|seg| !seg.is_empty() && seg != "." && seg != ".." && seg.chars().all(valid_char))
}

fn valid_char(c: char) -> bool {
    let u = c as u32;
    !(u == 0
        || (0x01..=0x1f).contains(&u)
        || (0x7f..=0x9f).contains(&u)
        || (0xd800..=0xf8ff).contains(&u)
        || u >= 0xfff0)
}

/// Split `path` at its last `/` into (parent, child name), as ZooKeeper's
/// `path.substring(0, lastSlash)` does, with the root's alias `""` mapped to `"/"`.
/// `None` if the path has no `/` at all.
pub fn split(path: &str) -> Option<(&str, &str)> {
    let slash = path.rfind('/')?;
    let parent = if slash == 0 { "/" } else { &path[..slash] };
    Some((parent, &path[slash + 1..]))
}

/// [`split`] for a path a node can be stored under: `None` unless parent + `/` + name
/// (`/` + name under the root) spells the path back, with a non-empty name. `//a`
/// splits into `/` and `a`, but it is not where `/a` is stored: resolving it by its
/// parts would find `/a`.
pub fn split_stored(path: &str) -> Option<(&str, &str)> {
    let (parent, name) = split(path)?;
    let joined = if parent == "/" { 0 } else { parent.len() } + 1 + name.len();
    (!name.is_empty() && joined == path.len()).then_some((parent, name))
}

/// The ancestors of `path`, nearest first, ending with `/` (empty for `/` itself).
pub fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    let mut cur = if path == "/" { None } else { Some(path) };
    std::iter::from_fn(move || {
        let p = cur?;
        let (parent, _) = split(p)?;
        cur = if parent == "/" || parent == p {
            None
        } else {
            Some(parent)
        };
        Some(parent)
    })
}

/// Java's `String.length()`: the number of UTF-16 code units (used for
/// `approximateDataSize`, which ZooKeeper reports in mntr).
pub fn java_len(s: &str) -> u64 {
    s.chars().map(|c| c.len_utf16() as u64).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_path_rules() {
        for ok in [
            "/",
            "/a",
            "/a/b",
            "/a.b",
            "/...",
            "/a..",
            "/.a",
            "/zookeeper",
            "/é",
            "/\u{ffef}",
            "/\u{f900}",
            "/a b",
        ] {
            assert!(validate_path(ok), "{ok:?} should be valid");
        }
        for bad in [
            "",
            "a",
            "a/b",
            "/a/",
            "//",
            "/a//b",
            "/.",
            "/..",
            "/a/./b",
            "/a/../b",
            "/a/.",
            "/a\0b",
            "/a\u{1}",
            "/a\u{1f}",
            "/a\u{7f}",
            "/a\u{9f}",
            "/a\u{e000}",
            "/a\u{f8ff}",
            "/a\u{fff0}",
            "/a\u{ffff}",
            "/a\u{fffd}",
            "/a\u{1f600}",
        ] {
            assert!(!validate_path(bad), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn split_and_ancestors() {
        assert_eq!(split("/a"), Some(("/", "a")));
        assert_eq!(split("/a/b"), Some(("/a", "b")));
        assert_eq!(split("/a/"), Some(("/a", "")));
        assert_eq!(split("/"), Some(("/", "")));
        assert_eq!(split("abc"), None);
        assert_eq!(ancestors("/a/b/c").collect::<Vec<_>>(), ["/a/b", "/a", "/"]);
        assert_eq!(ancestors("/a").collect::<Vec<_>>(), ["/"]);
        assert_eq!(ancestors("/").count(), 0);
        assert_eq!(ancestors("x").count(), 0);
        assert!(is_special("/zookeeper/config") && !is_special("/zookeeper/x"));
        assert_eq!(java_len("/a\u{1f600}"), 4);
    }
}
