//! Object storage for uploaded documents and listing images: a local directory by default, S3-compatible storage
//! when configured, so that every replica reads the files any of them wrote.
//!
//! Streamed writes go through multipart uploads (small objects in one `put`): the local
//! directory stages them in a temporary file renamed on completion, S3 shows an object only once
//! its upload completes. An upload that fails half-way is aborted and never visible under its key.

use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};

/// The default: a `data/objects` directory beside the working directory.
pub const DEFAULT_LOCATION: &str = "file://./data/objects";

/// Parts in flight per upload: bounds the memory one upload holds to a few chunks, whatever the
/// file's size.
const MAX_PARTS_IN_FLIGHT: usize = 2;

/// Where objects live, shared by every handler.
#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    location: Arc<str>,
    /// Bytes buffered before a part is sent: S3 wants parts of 5 MiB at least, a local file
    /// takes any size, so a local upload holds far less memory.
    part_size: usize,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("location", &self.location)
            .finish()
    }
}

impl Storage {
    /// `file:///abs/dir`, `file://./rel/dir` (resolved against the working directory; created
    /// if missing) or `s3://bucket/prefix` (credentials, region and endpoint from the standard
    /// AWS variables).
    pub fn open(location: &str) -> anyhow::Result<Storage> {
        if let Some(dir) = location.strip_prefix("file://") {
            let dir = std::path::Path::new(dir);
            let dir = match dir.is_absolute() {
                true => dir.to_path_buf(),
                false => std::env::current_dir()?.join(dir),
            };
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("creating the object directory {}", dir.display()))?;
            let store = LocalFileSystem::new_with_prefix(&dir)?;
            return Ok(Storage {
                store: Arc::new(store),
                prefix: Path::default(),
                location: Arc::from(format!("file://{}", dir.display())),
                part_size: 256 * 1024,
            });
        }
        if location.starts_with("s3://") {
            let url = url::Url::parse(location).context("MOTCUA_OBJECT_STORE")?;
            let store = AmazonS3Builder::from_env().with_url(location).build()?;
            return Ok(Storage {
                store: Arc::new(store),
                prefix: Path::parse(url.path().trim_start_matches('/'))?,
                location: Arc::from(location),
                part_size: 5 * 1024 * 1024,
            });
        }
        anyhow::bail!("MOTCUA_OBJECT_STORE must be file:///… or s3://bucket/prefix, not {location}")
    }

    pub fn location(&self) -> &str {
        &self.location
    }

    /// `key`'s segments (`documents/<citizen>/<id>`) under the prefix: a directory per segment
    /// on disk, `/`-separated in an S3 key, never one flat name with an escaped `/`.
    fn path(&self, key: &str) -> Path {
        self.prefix.parts().chain(Path::from(key).parts()).collect()
    }

    /// Starts writing `key`; nothing is visible under it before [`Writer::finish`].
    pub async fn writer(&self, key: &str) -> anyhow::Result<Writer> {
        let upload = self.store.put_multipart(&self.path(key)).await?;
        Ok(Writer(WriteMultipart::new_with_chunk_size(
            upload,
            self.part_size,
        )))
    }

    /// The object's bytes as a stream.
    pub async fn get(
        &self,
        key: &str,
    ) -> anyhow::Result<BoxStream<'static, std::io::Result<Bytes>>> {
        let got = self.store.get(&self.path(key)).await?;
        Ok(got
            .into_stream()
            .map(|chunk| chunk.map_err(std::io::Error::other))
            .boxed())
    }

    /// Writes a small object in one piece: visible under `key`, whole, once this returns.
    pub async fn put(&self, key: &str, bytes: Bytes) -> anyhow::Result<()> {
        self.store.put(&self.path(key), bytes.into()).await?;
        Ok(())
    }

    /// The object's bytes as a stream with their length, or `None` when there is no object
    /// under `key`.
    pub async fn get_if_exists(
        &self,
        key: &str,
    ) -> anyhow::Result<Option<(BoxStream<'static, std::io::Result<Bytes>>, u64)>> {
        let got = match self.store.get(&self.path(key)).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(err) => return Err(err.into()),
        };
        let size = got.meta.size;
        let stream = got
            .into_stream()
            .map(|chunk| chunk.map_err(std::io::Error::other))
            .boxed();
        Ok(Some((stream, size)))
    }

    /// Removes `key`; an object already gone is not an error.
    pub async fn delete(&self, key: &str) -> anyhow::Result<()> {
        match self.store.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }

    /// The keys under `prefix` (`images`, say), sorted (tests and diagnosis).
    pub async fn list(&self, prefix: &str) -> anyhow::Result<Vec<String>> {
        let skip = self.prefix.parts().count();
        let mut keys: Vec<String> = self
            .store
            .list(Some(&self.path(prefix)))
            .map(|meta| {
                meta.map(|meta| {
                    let parts: Vec<String> = meta
                        .location
                        .parts()
                        .skip(skip)
                        .map(|part| part.as_ref().to_string())
                        .collect();
                    parts.join("/")
                })
            })
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        keys.sort();
        Ok(keys)
    }

    /// Whether `key` exists (tests and diagnosis).
    pub async fn exists(&self, key: &str) -> anyhow::Result<bool> {
        match self.store.head(&self.path(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(err) => Err(err.into()),
        }
    }
}

/// An upload in progress.
pub struct Writer(WriteMultipart);

impl Writer {
    /// Appends `bytes`, waiting while too many parts are in flight.
    pub async fn write(&mut self, bytes: Bytes) -> anyhow::Result<()> {
        self.0.wait_for_capacity(MAX_PARTS_IN_FLIGHT).await?;
        self.0.put(bytes);
        Ok(())
    }

    /// Completes the upload: from now on the object is visible under its key.
    pub async fn finish(self) -> anyhow::Result<()> {
        self.0.finish().await?;
        Ok(())
    }

    /// Gives up: the parts written so far are discarded.
    pub async fn abort(self) {
        if let Err(err) = self.0.abort().await {
            tracing::warn!(error = %err, "aborting an upload failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_aborted_upload_leaves_nothing_and_a_finished_one_reads_back() {
        let dir = std::env::temp_dir().join(format!("motcua-objects-{}", uuid::Uuid::new_v4()));
        let storage = Storage::open(&format!("file://{}", dir.display())).unwrap();
        let mut w = storage.writer("a/one").await.unwrap();
        w.write(Bytes::from_static(b"half")).await.unwrap();
        w.abort().await;
        assert!(!storage.exists("a/one").await.unwrap());

        let mut w = storage.writer("a/two").await.unwrap();
        w.write(Bytes::from_static(b"hello ")).await.unwrap();
        w.write(Bytes::from_static(b"world")).await.unwrap();
        w.finish().await.unwrap();
        assert!(dir.join("a").join("two").is_file());
        let mut got = Vec::new();
        let mut stream = storage.get("a/two").await.unwrap();
        while let Some(chunk) = stream.next().await {
            got.extend_from_slice(&chunk.unwrap());
        }
        assert_eq!(got, b"hello world");
        assert!(
            dir.join("a").join("two").is_file(),
            "a directory per key segment"
        );
        storage.delete("a/two").await.unwrap();
        assert!(!storage.exists("a/two").await.unwrap());
        assert!(storage.get_if_exists("a/two").await.unwrap().is_none());

        storage
            .put("b/three", Bytes::from_static(b"whole"))
            .await
            .unwrap();
        let (mut stream, size) = storage.get_if_exists("b/three").await.unwrap().unwrap();
        assert_eq!(size, 5);
        assert_eq!(stream.next().await.unwrap().unwrap(), "whole");
        let _ = std::fs::remove_dir_all(dir);
    }
}
