//! What a step did to its input. Every step reports an [`Edit`] rather than a new string, so
//! unchanged input and pure trimming never allocate; the steps share it, so it is theirs alike.

use std::borrow::Cow;
use std::ops::Range;

/// What a step did, so unchanged input and pure trimming never allocate.
#[derive(Debug)]
pub(super) enum Edit {
    Same,
    /// The result is this byte range of the input (always on char boundaries).
    Slice(Range<usize>),
    New(String),
}

impl Edit {
    pub(super) fn apply_to(self, cur: Cow<'_, str>) -> Cow<'_, str> {
        match self {
            Edit::Same => cur,
            Edit::Slice(r) => match cur {
                Cow::Borrowed(s) => Cow::Borrowed(&s[r]),
                Cow::Owned(mut s) => {
                    s.truncate(r.end);
                    s.drain(..r.start);
                    Cow::Owned(s)
                }
            },
            Edit::New(s) => Cow::Owned(s),
        }
    }
}

/// Byte range of `inner` within `outer`; `inner` must be a subslice of `outer`, which is how
/// every caller obtains it (`trim_*`, `strip_*`, `split*`), so the range is on char boundaries.
pub(super) fn range_in(outer: &str, inner: &str) -> Range<usize> {
    let start = inner.as_ptr().addr() - outer.as_ptr().addr();
    debug_assert!(outer.get(start..start + inner.len()) == Some(inner));
    start..start + inner.len()
}

pub(super) fn slice_edit(outer: &str, inner: &str) -> Edit {
    if inner.len() == outer.len() {
        Edit::Same
    } else {
        Edit::Slice(range_in(outer, inner))
    }
}
