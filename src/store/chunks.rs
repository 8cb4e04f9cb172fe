//! A vector stored as fixed-size chunks, so that it never reallocates to grow.
//!
//! A `Vec` that doubles holds up to twice the memory it needs, and copies everything when it
//! grows. [`Chunks`] allocates `CHUNK` slots at a time instead: at most one chunk is partly used,
//! plus at most one spare empty chunk kept after a pop (so a push and a pop at a chunk boundary
//! do not allocate and free over and over).

/// Elements per chunk: a power of two, so that an index splits with a shift and a mask.
const CHUNK: usize = 2048;

/// A growable sequence of `T` in chunks of [`CHUNK`] elements. Supports what a dense table needs:
/// push, pop, indexing, swap-remove and iteration.
#[derive(Debug, Clone)]
pub(crate) struct Chunks<T> {
    /// Every chunk is full but the last non-empty one; at most one empty chunk follows it.
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for Chunks<T> {
    fn default() -> Self {
        Chunks {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Chunks<T> {
    /// How many elements there are.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The element at `index`, if `index < len`.
    pub(crate) fn get(&self, index: usize) -> Option<&T> {
        self.chunks.get(index / CHUNK)?.get(index % CHUNK)
    }

    /// The element at `index`, mutably, if `index < len`.
    pub(crate) fn get_mut(&mut self, index: usize) -> Option<&mut T> {
        self.chunks.get_mut(index / CHUNK)?.get_mut(index % CHUNK)
    }

    /// Appends `value` and returns its index.
    pub(crate) fn push(&mut self, value: T) -> usize {
        let index = self.len;
        let chunk = index / CHUNK;
        if chunk == self.chunks.len() {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        self.chunks[chunk].push(value);
        self.len += 1;
        index
    }

    /// Removes and returns the last element.
    pub(crate) fn pop(&mut self) -> Option<T> {
        let last = self.len.checked_sub(1)?;
        let chunk = last / CHUNK;
        let value = self.chunks[chunk].pop()?;
        self.len = last;
        // Keep at most one empty chunk after the last used one.
        if self.chunks.len() > chunk + 1 && self.chunks[chunk].is_empty() {
            self.chunks.pop();
        }
        Some(value)
    }

    /// Removes the element at `index` and puts the last element in its place.
    ///
    /// # Panics
    /// If `index >= len`.
    pub(crate) fn swap_remove(&mut self, index: usize) -> T {
        assert!(
            index < self.len,
            "swap_remove index {index} of {}",
            self.len
        );
        let last = self.pop().expect("not empty");
        if index == self.len {
            return last;
        }
        std::mem::replace(&mut self.chunks[index / CHUNK][index % CHUNK], last)
    }

    /// The elements in index order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        self.chunks.iter().flatten()
    }

    /// Removes and returns every element, in index order, and frees the chunks.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = T> {
        self.len = 0;
        std::mem::take(&mut self.chunks).into_iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_pop_and_swap_remove_across_chunks() {
        let mut c = Chunks::default();
        let n = 3 * CHUNK + 5;
        for i in 0..n {
            assert_eq!(c.push(i), i);
        }
        assert_eq!(c.len(), n);
        assert_eq!(c.get(CHUNK), Some(&CHUNK));
        assert_eq!(c.get(n), None);
        assert_eq!(c.swap_remove(1), 1);
        assert_eq!(c.get(1), Some(&(n - 1)));
        assert_eq!(c.swap_remove(n - 2), n - 2);
        assert_eq!(c.len(), n - 2);
        while c.len() > CHUNK {
            c.pop();
        }
        // One full chunk and one spare empty one.
        assert_eq!(c.chunks.len(), 2);
        assert_eq!(c.iter().count(), CHUNK);
        assert_eq!(c.drain().count(), CHUNK);
        assert_eq!((c.len(), c.chunks.len()), (0, 0));
    }
}
