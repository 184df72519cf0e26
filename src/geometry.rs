//! Where things sit in the slab's chunks: the one home of the key geometry, used by the slab
//! (`storage/slab.rs`) to find a slot and by the wakers (`waker.rs`) to find a cell's chunk.
//!
//! Chunk `c` holds `BASE << c` slots with consecutive keys; chunk 0 also has one more waker
//! cell, for the race's sleep ([`TIMER`]).

/// Slots in the first chunk. Chunk `c` has `BASE << c`.
pub(crate) const BASE: usize = 8;

/// The key of the cell that wakes the race's sleep.
pub(crate) const TIMER: u32 = u32::MAX;

/// The largest slot key plus one: keys stay below [`TIMER`].
const KEYS: usize = TIMER as usize;

/// Where the waker cell of `key` sits: its index in its chunk, and the chunk's length (chunk
/// 0 has one more cell than slots, the sleep's, at its end).
#[inline]
pub(crate) fn cell_place(key: u32) -> (usize, usize) {
    if key == TIMER {
        return (BASE, BASE + 1);
    }
    let (chunk, offset) = locate(key);
    (offset, (BASE << chunk) + usize::from(chunk == 0))
}

/// The first slot key of chunk `chunk`, and its number of slots.
#[inline]
pub(crate) fn chunk_keys(chunk: usize) -> (u32, u32) {
    let start = BASE * ((1 << chunk) - 1);
    let size = BASE << chunk;
    assert!(
        start + size < KEYS,
        "staggered: more than 2^32 attempts running at once"
    );
    (start as u32, size as u32)
}

/// Chunk index and offset of slot `key`.
#[inline]
pub(crate) fn locate(key: u32) -> (usize, usize) {
    let k = key as usize;
    let chunk = (k / BASE + 1).ilog2() as usize;
    (chunk, k - BASE * ((1 << chunk) - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_maps_keys_to_geometric_chunks() {
        assert_eq!(locate(0), (0, 0));
        assert_eq!(locate(BASE as u32 - 1), (0, BASE - 1));
        assert_eq!(locate(BASE as u32), (1, 0));
        assert_eq!(locate(3 * BASE as u32 - 1), (1, 2 * BASE - 1));
        assert_eq!(locate(3 * BASE as u32), (2, 0));
        assert_eq!(locate(7 * BASE as u32), (3, 0));
    }

    #[test]
    fn cells_sit_in_their_chunk() {
        assert_eq!(cell_place(TIMER), (BASE, BASE + 1));
        assert_eq!(cell_place(0), (0, BASE + 1));
        assert_eq!(cell_place(BASE as u32), (0, 2 * BASE));
        let (start, size) = chunk_keys(2);
        assert_eq!((start, size), (3 * BASE as u32, 4 * BASE as u32));
        assert_eq!(
            cell_place(start + size - 1),
            (size as usize - 1, size as usize)
        );
    }
}
