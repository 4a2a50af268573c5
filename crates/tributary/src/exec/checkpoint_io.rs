//! The storage side of the checkpoint protocol: list, read and write the files that
//! `tributary-checkpoint` names, and hand the facts to its pure decisions.

use tributary_checkpoint::{
    codec, recover, retention, CheckpointPaths, CommitRecord, Epoch, Listing, OffsetRecord,
    QueryIdentity, QueryMetadata, Recovery,
};

use crate::error::{Result, TributaryError};
use crate::location::Location;

/// A checkpoint location.
#[derive(Debug, Clone)]
pub(crate) struct CheckpointStore {
    pub root: Location,
}

impl CheckpointStore {
    fn protocol_err(&self, e: tributary_checkpoint::ProtocolError) -> TributaryError {
        TributaryError::Checkpoint {
            location: self.root.display.clone(),
            source: Box::new(e),
        }
    }

    async fn epochs(&self, dir: &str) -> Result<Vec<Epoch>> {
        Ok(self
            .root
            .list(dir)
            .await?
            .iter()
            .filter_map(|e| {
                let rest = e.name.strip_prefix(&format!("{dir}/"))?;
                if rest.contains('/') {
                    return None;
                }
                CheckpointPaths::epoch_of(rest)
            })
            .collect())
    }

    pub(crate) async fn listing(&self) -> Result<Listing> {
        let metadata = match self.root.read(&CheckpointPaths::metadata()).await? {
            None => None,
            Some(b) => Some(
                codec::decode::<QueryMetadata>(&CheckpointPaths::metadata(), &b)
                    .map_err(|e| self.protocol_err(e))?,
            ),
        };
        Ok(Listing {
            metadata,
            offsets: self.epochs(&CheckpointPaths::offsets_dir()).await?,
            commits: self.epochs(&CheckpointPaths::commits_dir()).await?,
        })
    }

    pub(crate) async fn recover(&self, identity: &QueryIdentity) -> Result<Recovery> {
        let listing = self.listing().await?;
        recover(identity, &listing).map_err(|e| self.protocol_err(e))
    }

    pub(crate) async fn write_metadata(&self, meta: &QueryMetadata) -> Result<()> {
        self.root.ensure_dir()?;
        if !self
            .root
            .write_new(&CheckpointPaths::metadata(), codec::encode(meta))
            .await?
        {
            return Err(TributaryError::Plan(format!(
                "another query created the checkpoint at '{}' at the same time: give each query its own checkpoint location",
                self.root.display
            )));
        }
        Ok(())
    }

    pub(crate) async fn read_offsets(&self, epoch: Epoch) -> Result<OffsetRecord> {
        let name = CheckpointPaths::offsets(epoch);
        let bytes = self.root.read(&name).await?.ok_or_else(|| {
            self.protocol_err(tributary_checkpoint::ProtocolError::Inconsistent {
                reason: format!("'{name}' disappeared while the query started"),
            })
        })?;
        codec::decode(&name, &bytes).map_err(|e| self.protocol_err(e))
    }

    /// Write-ahead: the epoch's offsets, never replacing an existing file.
    pub(crate) async fn write_offsets(&self, record: &OffsetRecord) -> Result<()> {
        let name = CheckpointPaths::offsets(record.epoch);
        if !self.root.write_new(&name, codec::encode(record)).await? {
            return Err(self.protocol_err(tributary_checkpoint::ProtocolError::Inconsistent {
                reason: format!("'{name}' already exists: is another run of this query writing the same checkpoint?"),
            }));
        }
        self.root.sync(&name).await
    }

    /// The commit record of an epoch, if it is there.
    pub(crate) async fn read_commit(&self, epoch: Epoch) -> Result<Option<CommitRecord>> {
        let name = CheckpointPaths::commits(epoch);
        match self.root.read(&name).await? {
            None => Ok(None),
            Some(bytes) => Ok(Some(
                codec::decode(&name, &bytes).map_err(|e| self.protocol_err(e))?,
            )),
        }
    }

    pub(crate) async fn write_commit(&self, record: &CommitRecord) -> Result<()> {
        let name = CheckpointPaths::commits(record.epoch);
        self.root.write_new(&name, codec::encode(record)).await?;
        self.root.sync(&name).await
    }

    /// Delete old log files, keeping the last `keep` committed epochs.
    pub(crate) async fn purge(&self, keep: usize) -> Result<()> {
        let listing = Listing {
            metadata: None,
            offsets: self.epochs(&CheckpointPaths::offsets_dir()).await?,
            commits: self.epochs(&CheckpointPaths::commits_dir()).await?,
        };
        for name in retention(&listing, keep) {
            self.root.delete(&name).await?;
        }
        Ok(())
    }
}

impl CheckpointStore {
    /// The shape recorded by the last run that started at or before `epoch` (None: the
    /// checkpoint predates shapes, or is new).
    pub(crate) async fn read_shape(
        &self,
        epoch: Epoch,
    ) -> Result<Option<crate::plan::shape::QueryShape>> {
        let dir = CheckpointPaths::shapes_dir();
        let Some(at) = self
            .epochs(&dir)
            .await?
            .into_iter()
            .filter(|e| *e <= epoch)
            .max()
        else {
            return Ok(None);
        };
        let name = CheckpointPaths::shape(at);
        let Some(bytes) = self.root.read(&name).await? else {
            return Ok(None);
        };
        let shape: crate::plan::shape::QueryShape =
            serde_json::from_slice(&bytes).map_err(|e| TributaryError::State {
                location: format!("{}/{name}", self.root.display),
                message: format!("the query's recorded shape is damaged ({e}); remove the file to start without the check"),
            })?;
        if shape.version > crate::plan::shape::SHAPE_VERSION {
            return Err(TributaryError::State {
                location: format!("{}/{name}", self.root.display),
                message: format!(
                    "the query's shape was written by a newer Tributary (format {}; this one reads up to {}): run the query with that version",
                    shape.version,
                    crate::plan::shape::SHAPE_VERSION
                ),
            });
        }
        Ok(Some(shape))
    }

    /// Record the query's shape as of the first epoch of this run (replacing the record of a
    /// run that started at the same epoch).
    pub(crate) async fn write_shape(&self, shape: &crate::plan::shape::QueryShape) -> Result<()> {
        let name = CheckpointPaths::shape(Epoch(shape.epoch));
        let bytes = serde_json::to_vec_pretty(shape)
            .map_err(|e| TributaryError::Internal(format!("encoding the query's shape: {e}")))?;
        self.root.ensure_dir()?;
        self.root.write(&name, bytes).await
    }
}
