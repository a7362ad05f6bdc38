//! An in-place heapsort: a few hundred bytes of code where the standard
//! library's `sort_unstable` instantiates its quicksort, pivot selection and
//! small-sort networks (about 2.6 KB per element type) in every program that
//! links the caller. O(n log n) in the worst case, no allocation; not stable,
//! which the callers (sorting to find duplicates) do not need.

/// Sort `v` ascending.
pub(crate) fn heapsort<T: Ord>(v: &mut [T]) {
    let n = v.len();
    for root in (0..n / 2).rev() {
        sift_down(v, root, n);
    }
    for end in (1..n).rev() {
        v.swap(0, end);
        sift_down(v, 0, end);
    }
}

/// Restore the max-heap below `root`, in `v[..end]`.
fn sift_down<T: Ord>(v: &mut [T], mut root: usize, end: usize) {
    loop {
        let mut child = 2 * root + 1;
        if child >= end {
            return;
        }
        // Both indices are below `end` <= v.len(), so both gets are Some.
        if child + 1 < end && v.get(child) < v.get(child + 1) {
            child += 1;
        }
        if v.get(root) >= v.get(child) {
            return;
        }
        v.swap(root, child);
        root = child;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_like_the_standard_sort() {
        // A small xorshift: many lengths, few distinct values (duplicates are
        // what the callers look for) and many.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for len in (0..70).chain([255, 256, 1000, 4097]) {
            for modulus in [1u64, 3, 1 << 40] {
                let mut v: Vec<(u64, i32)> = (0..len).map(|i| (next() % modulus, i)).collect();
                let mut want = v.clone();
                want.sort();
                heapsort(&mut v);
                assert_eq!(v, want, "len {len}, modulus {modulus}");
            }
        }
    }
}
