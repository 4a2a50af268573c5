use thiserror::Error;

/// Why a checkpoint cannot be used. Every variant says what to do about it.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// A file of the checkpoint could not be parsed.
    #[error(
        "damaged checkpoint file '{file}': {reason}. The checkpoint was left as it is; \
         restore the file from a backup of this same checkpoint. Do not simply start with a new \
         checkpoint location: the query would read its whole input again and write every row \
         again; a new checkpoint is safe only with starting positions past what the sink \
         already holds (see docs/guarantees.md)"
    )]
    Damaged {
        /// The file, relative to the checkpoint root.
        file: String,
        /// What was wrong with it.
        reason: String,
    },
    /// The checkpoint belongs to another query.
    #[error(
        "the checkpoint belongs to another query: it was written by {found}, but this query is \
         {expected}. A checkpoint location serves exactly one query; give this query its own \
         checkpoint location (option 'checkpoint_location' or --checkpoint)"
    )]
    OtherQuery {
        /// What the checkpoint's metadata says.
        found: String,
        /// What the starting query is.
        expected: String,
    },
    /// The logs are inconsistent (for example a commit without its offsets).
    #[error(
        "inconsistent checkpoint: {reason}. The checkpoint was left as it is; restore it \
         from a backup taken with its output, or see docs/guarantees.md for the safe ways on \
         (a new checkpoint location alone would write every row again)"
    )]
    Inconsistent {
        /// What is inconsistent.
        reason: String,
    },
}
