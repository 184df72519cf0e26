//! The one rule for printing a list of errors, shared by the messages of `AllFailed`,
//! `ArrayAllFailed` and `net::ConnectError`: each entry numbered by its attempt, and a long list cut short.
//!
//! A list of up to `PRINTED_WHOLE` entries prints whole. A longer one prints its first
//! `HEAD` entries, then `... (N more) ...` for the `N` left out, then its last entry: at most
//! `HEAD + 1` entries, whatever the length (1,000 failed addresses print as 7). The alternate
//! form, `{:#}`, prints every entry. The value itself keeps every error.

use core::fmt;

/// Lists of up to this many entries print whole.
pub(crate) const PRINTED_WHOLE: usize = 8;
/// How many entries from the start a longer list prints, before the count of those left out
/// and the last entry.
pub(crate) const HEAD: usize = 6;

/// Writes `items` after `": "`, separated by `"; "`, each by `write_item(f, position, item)`,
/// cut short by the rule above unless `f` is in the alternate form (`{:#}`). Writes nothing
/// for an empty list.
pub(crate) fn write_bounded<T>(
    f: &mut fmt::Formatter<'_>,
    items: &[T],
    mut write_item: impl FnMut(&mut fmt::Formatter<'_>, usize, &T) -> fmt::Result,
) -> fmt::Result {
    let n = items.len();
    let head = if f.alternate() || n <= PRINTED_WHOLE {
        n
    } else {
        HEAD
    };
    for (position, item) in items.iter().enumerate().take(head) {
        f.write_str(if position == 0 { ": " } else { "; " })?;
        write_item(f, position, item)?;
    }
    if head < n {
        // The rule leaves out all but the last of the entries after the head.
        write!(f, "; ... ({} more) ...; ", n - head - 1)?;
        write_item(f, n - 1, &items[n - 1])?;
    }
    Ok(())
}

#[cfg(all(test, feature = "alloc"))]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::{String, ToString};
    use alloc::vec::Vec;

    struct List(Vec<u32>);

    impl fmt::Display for List {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("list")?;
            write_bounded(f, &self.0, |f, position, item| {
                write!(f, "[{position}] e{item}")
            })
        }
    }

    fn list(n: u32) -> List {
        List((0..n).collect())
    }

    #[test]
    fn short_lists_print_whole() {
        assert_eq!(list(0).to_string(), "list");
        assert_eq!(list(1).to_string(), "list: [0] e0");
        let eight = list(8).to_string();
        assert_eq!(eight.matches("; ").count(), 7, "{eight}");
        assert!(eight.ends_with("[6] e6; [7] e7"), "{eight}");
    }

    #[test]
    fn a_long_list_prints_its_head_a_count_and_its_last() {
        assert_eq!(
            list(9).to_string(),
            "list: [0] e0; [1] e1; [2] e2; [3] e3; [4] e4; [5] e5; ... (2 more) ...; [8] e8"
        );
        let long = list(1000).to_string();
        assert_eq!(
            long,
            "list: [0] e0; [1] e1; [2] e2; [3] e3; [4] e4; [5] e5; ... (993 more) ...; [999] e999"
        );
        // Every entry, on request.
        let all: String = format!("{:#}", list(1000));
        assert_eq!(all.matches("; ").count(), 999);
        assert!(all.contains("[500] e500;") && all.ends_with("[999] e999"));
    }
}
