//! `file:///dir`: objects are files under `dir`, written to a temporary name and renamed, so they appear
//! whole or not at all.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::AsyncWriteExt;

use super::{Created, Listed, ObjectMeta, ObjectReader, ObjectStore, StoreFuture, Upload};
use crate::error::CosError;

pub struct LocalDir {
    dir: PathBuf,
}

impl LocalDir {
    pub fn new(dir: PathBuf) -> Self {
        LocalDir { dir }
    }

    /// A name in `dir` no other write uses.
    fn temp_path(&self) -> PathBuf {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        self.dir.join(".uploads").join(format!("{}-{n}", std::process::id()))
    }
}

impl ObjectStore for LocalDir {
    fn describe(&self) -> String {
        format!("file://{}", self.dir.display())
    }

    fn put<'a>(&'a self, key: &'a str, body: Vec<u8>, _meta: &'a ObjectMeta) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let temp = self.temp_path();
            io("put", key, write_new(&temp, &body).await)?;
            io("put", key, rename_into(&temp, &self.dir.join(key)).await)
        })
    }

    fn start_upload<'a>(&'a self, key: &'a str, _meta: &'a ObjectMeta) -> StoreFuture<'a, Upload> {
        Box::pin(async move {
            let temp = self.temp_path();
            io("start upload", key, write_new(&temp, &[]).await)?;
            Ok(Upload {
                id: temp.to_string_lossy().into_owned(),
                parts: Vec::new(),
            })
        })
    }

    fn upload_part<'a>(&'a self, key: &'a str, upload: &'a mut Upload, body: Vec<u8>) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let appended = async {
                let mut file = tokio::fs::OpenOptions::new().append(true).open(&upload.id).await?;
                file.write_all(&body).await?;
                file.flush().await
            };
            io("upload part", key, appended.await)?;
            upload.parts.push(None);
            Ok(())
        })
    }

    fn complete_upload<'a>(&'a self, key: &'a str, upload: Upload) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let done = rename_into(Path::new(&upload.id), &self.dir.join(key)).await;
            io("complete upload", key, done)
        })
    }

    fn abort_upload<'a>(&'a self, key: &'a str, upload: Upload) -> StoreFuture<'a, ()> {
        Box::pin(async move { io("abort upload", key, tokio::fs::remove_file(&upload.id).await) })
    }

    fn create<'a>(&'a self, key: &'a str, body: Vec<u8>, _meta: &'a ObjectMeta) -> StoreFuture<'a, Created> {
        Box::pin(async move {
            let temp = self.temp_path();
            io("create", key, write_new(&temp, &body).await)?;
            let path = self.dir.join(key);
            let linked = async {
                if let Some(parent) = path.parent() {
                    tokio::fs::create_dir_all(parent).await?;
                }
                // A hard link fails when the name exists: the atomic create-if-absent of a file system.
                tokio::fs::hard_link(&temp, &path).await
            };
            let created = match linked.await {
                Ok(()) => Ok(Created::Created),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(Created::Exists),
                Err(e) => io("create", key, Err(e)),
            };
            let _ = tokio::fs::remove_file(&temp).await;
            created
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            match tokio::fs::remove_file(self.dir.join(key)).await {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                removed => io("delete", key, removed),
            }
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> StoreFuture<'a, Vec<Listed>> {
        Box::pin(async move {
            let dir = self.dir.clone();
            let owned = prefix.to_owned();
            let listed = tokio::task::spawn_blocking(move || list_files(&dir, &owned))
                .await
                .map_err(std::io::Error::other)
                .and_then(|listed| listed);
            io("list", prefix, listed)
        })
    }

    fn read<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<ObjectReader>> {
        Box::pin(async move {
            match tokio::fs::File::open(self.dir.join(key)).await {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                opened => {
                    let file = io("read", key, opened)?;
                    Ok(Some(
                        Box::new(tokio::io::BufReader::with_capacity(1 << 16, file)) as ObjectReader
                    ))
                }
            }
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            match tokio::fs::read(self.dir.join(key)).await {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                read => io("get", key, read).map(Some),
            }
        })
    }
}

/// The files under `dir` whose keys start with `prefix`, skipping uploads in progress.
fn list_files(dir: &Path, prefix: &str) -> std::io::Result<Vec<Listed>> {
    let mut listed = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let entries = match std::fs::read_dir(&folder) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            entries => entries?,
        };
        for entry in entries {
            let entry = entry?;
            let path = entry.path();
            let Some(key) = path
                .strip_prefix(dir)
                .ok()
                .and_then(Path::to_str)
                .map(|k| k.replace('\\', "/"))
            else {
                continue;
            };
            if key == ".uploads" {
                continue;
            }
            let kind = entry.file_type()?;
            if kind.is_dir() {
                // Only folders on the way to the prefix, or under it.
                let folder_key = format!("{key}/");
                if folder_key.starts_with(prefix) || prefix.starts_with(&folder_key) {
                    folders.push(path);
                }
            } else if key.starts_with(prefix) {
                listed.push(Listed {
                    key,
                    size: entry.metadata()?.len(),
                });
            }
        }
    }
    listed.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(listed)
}

fn io<T>(op: &'static str, key: &str, result: std::io::Result<T>) -> Result<T, CosError> {
    result.map_err(|e| CosError::store(op, key, e.to_string(), true))
}

async fn write_new(path: &Path, body: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent).await?;
    }
    tokio::fs::write(path, body).await
}

async fn rename_into(from: &Path, to: &Path) -> std::io::Result<()> {
    if let Some(parent) = to.parent() {
        tokio::fs::create_dir_all(parent).await?;
    }
    tokio::fs::rename(from, to).await
}
