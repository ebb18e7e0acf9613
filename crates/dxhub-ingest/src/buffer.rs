//! The fixed-size read buffer behind both readers: memory stays constant whatever the
//! file size, and lines are parsed straight out of it without copying.

use std::io::{self, Read};
use std::ops::Range;

/// Longest line (or CSV record) accepted; a longer one is rejected and skipped without
/// being buffered, so a file that is one huge line cannot exhaust memory.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Size of the read buffer: room for one maximal record plus as much again of look-ahead.
pub(crate) const BUFFER_BYTES: usize = 2 * MAX_LINE_BYTES;

pub(crate) struct Buffer<R> {
    reader: R,
    /// Always `BUFFER_BYTES` long; the unread data is `buf[start..end]`.
    pub buf: Vec<u8>,
    pub start: usize,
    pub end: usize,
    /// The reader has reported end of file: `buf[start..end]` is all that is left.
    pub eof: bool,
    /// Physical lines fully consumed so far (the last line number handed out).
    pub line: u64,
}

impl<R: Read> Buffer<R> {
    pub fn new(reader: R) -> Buffer<R> {
        Buffer {
            reader,
            buf: vec![0; BUFFER_BYTES],
            start: 0,
            end: 0,
            eof: false,
            line: 0,
        }
    }

    /// Unread bytes.
    #[inline]
    pub fn pending(&self) -> usize {
        self.end - self.start
    }

    /// Moves the unread bytes to the front and reads once more. Sets `eof` when the
    /// reader has nothing left.
    pub fn fill(&mut self) -> io::Result<()> {
        self.compact();
        debug_assert!(self.end < self.buf.len(), "fill called on a full buffer");
        self.read_upto(self.buf.len())
    }

    /// Moves the unread bytes to the front.
    fn compact(&mut self) {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
    }

    /// Reads once into `buf[end..upto]` (again if interrupted); sets `eof` when the reader
    /// has nothing left.
    fn read_upto(&mut self, upto: usize) -> io::Result<()> {
        loop {
            match self.reader.read(&mut self.buf[self.end..upto]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads until at least `n` (at most [`BUFFER_BYTES`]) bytes are pending or the input
    /// ends, without reading beyond `n` pending bytes: what is read past them is copied by
    /// the next [`Buffer::hand_over`].
    pub fn fill_upto(&mut self, n: usize) -> io::Result<()> {
        let n = n.min(BUFFER_BYTES);
        while self.pending() < n && !self.eof {
            if self.start + n > self.buf.len() {
                self.compact();
            }
            self.read_upto(self.start + n)?;
        }
        Ok(())
    }

    /// Hands over the first `len` pending bytes without copying them: returns the buffer
    /// that holds them, and where. Reading goes on in `spare` (resized to
    /// [`BUFFER_BYTES`]: an emptied buffer handed over before, or a new one), into which
    /// the pending bytes after those are copied.
    pub fn hand_over(&mut self, len: usize, mut spare: Vec<u8>) -> (Vec<u8>, Range<usize>) {
        debug_assert!(len <= self.pending());
        spare.resize(BUFFER_BYTES, 0);
        let taken = self.start..self.start + len;
        let rest = taken.end..self.end;
        spare[..rest.len()].copy_from_slice(&self.buf[rest.clone()]);
        (self.start, self.end) = (0, rest.len());
        (std::mem::replace(&mut self.buf, spare), taken)
    }

    /// Discards the rest of the current physical line (through its `\n`, or to end of
    /// file) without keeping it in memory, and counts it.
    pub fn skip_line(&mut self) -> io::Result<()> {
        loop {
            if let Some(k) = memchr::memchr(b'\n', &self.buf[self.start..self.end]) {
                self.start += k + 1;
                self.line += 1;
                return Ok(());
            }
            self.start = 0;
            self.end = 0;
            if self.eof {
                self.line += 1;
                return Ok(());
            }
            self.fill()?;
        }
    }

    /// Skips a UTF-8 byte-order mark at the very start of the input.
    pub fn skip_bom(&mut self) -> io::Result<()> {
        while self.pending() < 3 && !self.eof {
            self.fill()?;
        }
        if self.buf[self.start..self.end].starts_with(&[0xEF, 0xBB, 0xBF]) {
            self.start += 3;
        }
        Ok(())
    }

    /// Fills until at least `n` bytes are pending or the input ends; returns the
    /// pending bytes (for format sniffing).
    pub fn peek(&mut self, n: usize) -> io::Result<&[u8]> {
        while self.pending() < n.min(BUFFER_BYTES) && !self.eof {
            self.fill()?;
        }
        Ok(&self.buf[self.start..self.end])
    }
}
