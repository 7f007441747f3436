//! Lets the storage pipeline count into an attempt's [`Progress`](crate::Progress).
//!
//! Engines already count raw bytes (`bytes_db`) as they dump or load, so the pipeline's raw
//! count is ignored here and only its stored-byte count is kept.

use crate::Progress;
use cairn_storage::pipeline::ProgressSink;

impl ProgressSink for Progress {
    fn raw(&self, _n: u64) {}
    fn stored(&self, n: u64) {
        self.add_storage(n);
    }
}
