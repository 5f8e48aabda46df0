//! The object store behind a remote, through the `object_store` crate: a
//! directory (`LocalFileSystem`) for `file://`, `AmazonS3` for `s3://` with the
//! credentials, region and endpoint the caller passes. Blocking outward: each
//! call runs on a small tokio runtime owned here and gives up at the operation's
//! deadline (request timeouts and retries are bounded by it too).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjPath;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
    RetryConfig, WriteMultipart,
};

use super::url::RemoteUrl;
use super::{RemoteError, Result};

/// Objects at least this large go up by multipart upload.
pub const MULTIPART_MIN: usize = 16 << 20;
/// The part size of a multipart upload.
const PART_BYTES: usize = 8 << 20;

/// Whether plain `http://` endpoints are allowed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HttpPolicy {
    /// Only to this machine (127.0.0.0/8, `localhost`, `[::1]`).
    #[default]
    LoopbackOnly,
    /// To any host (the user said so).
    Anywhere,
}

/// What an `s3://` remote needs besides its URL, as the caller found it (the
/// CLI: `--endpoint`, the standard `AWS_*` environment variables).
#[derive(Clone, Debug, Default)]
pub struct S3Settings {
    /// `AWS_ACCESS_KEY_ID`.
    pub access_key_id: Option<String>,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: Option<String>,
    /// `AWS_SESSION_TOKEN`.
    pub session_token: Option<String>,
    /// `AWS_REGION` (default `us-east-1`).
    pub region: Option<String>,
    /// The endpoint URL (`--endpoint`, the remote's, or `AWS_ENDPOINT_URL`).
    pub endpoint: Option<String>,
    /// Plain http beyond this machine.
    pub http: HttpPolicy,
}

/// True when `endpoint` (`http://host[:port][/...]`) names this machine.
pub fn is_loopback(endpoint: &str) -> bool {
    let rest = endpoint.split_once("://").map_or(endpoint, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    };
    host == "localhost"
        || host == "::1"
        || (host.starts_with("127.")
            && host.split('.').count() == 4
            && host.split('.').all(|p| p.parse::<u8>().is_ok()))
}

/// Whether a put found the object there already.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Put {
    /// Written now.
    Created,
    /// An object of that name existed; nothing was written.
    Existed,
}

/// An open remote store with a deadline for everything asked of it.
pub struct Backend {
    store: Arc<dyn ObjectStore>,
    rt: tokio::runtime::Runtime,
    /// The key prefix inside the bucket ("" for a directory, or no prefix).
    prefix: String,
    /// The URL, for messages.
    url: String,
    deadline: Instant,
    limit: Duration,
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("tl-remote")
        .enable_all()
        .build()
}

impl Backend {
    /// Opens `url`; every later call fails with [`RemoteError::Timeout`] once
    /// `limit` has passed since now. A `file://` directory must exist.
    pub fn open(url: &RemoteUrl, s3: &S3Settings, limit: Duration) -> Result<Backend> {
        let shown = url.to_string();
        let store_err = |source| RemoteError::Store {
            op: "OPEN",
            object: String::new(),
            remote: shown.clone(),
            source: Box::new(source),
        };
        let (store, prefix): (Arc<dyn ObjectStore>, String) = match url {
            RemoteUrl::File { path } => {
                if !path.is_dir() {
                    return Err(RemoteError::NoManifest {
                        remote: shown.clone(),
                        prefix: path.display().to_string(),
                    });
                }
                let fs = LocalFileSystem::new_with_prefix(path).map_err(store_err)?;
                (Arc::new(fs), String::new())
            }
            RemoteUrl::S3 { bucket, prefix } => {
                let mut b = AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(s3.region.clone().unwrap_or_else(|| "us-east-1".into()));
                if let Some(k) = &s3.access_key_id {
                    b = b.with_access_key_id(k);
                }
                if let Some(k) = &s3.secret_access_key {
                    b = b.with_secret_access_key(k);
                }
                if let Some(t) = &s3.session_token {
                    b = b.with_token(t);
                }
                let mut allow_http = false;
                if let Some(e) = &s3.endpoint {
                    if e.starts_with("http://") {
                        if s3.http == HttpPolicy::LoopbackOnly && !is_loopback(e) {
                            return Err(RemoteError::InsecureEndpoint {
                                endpoint: e.clone(),
                            });
                        }
                        allow_http = true;
                    }
                    b = b.with_endpoint(e);
                }
                let connect = limit.min(Duration::from_secs(10));
                let options = ClientOptions::new()
                    .with_allow_http(allow_http)
                    .with_connect_timeout(connect)
                    // Past the operation's own deadline, so that one fires first
                    // and names the limit.
                    .with_timeout(limit + Duration::from_secs(5));
                let retry = RetryConfig {
                    backoff: BackoffConfig {
                        init_backoff: Duration::from_millis(100),
                        max_backoff: Duration::from_secs(2),
                        base: 2.0,
                    },
                    max_retries: 4,
                    retry_timeout: limit,
                };
                let s3 = b
                    .with_client_options(options)
                    .with_retry(retry)
                    .build()
                    .map_err(store_err)?;
                (Arc::new(s3), prefix.clone())
            }
        };
        let rt = runtime().map_err(|e| {
            store_err(object_store::Error::Generic {
                store: "tokio",
                source: Box::new(e),
            })
        })?;
        Ok(Backend {
            store,
            rt,
            prefix,
            url: shown,
            deadline: Instant::now() + limit,
            limit,
        })
    }

    /// The remote's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn path(&self, name: &str) -> ObjPath {
        if self.prefix.is_empty() {
            ObjPath::from(name)
        } else {
            ObjPath::from(format!("{}/{name}", self.prefix))
        }
    }

    fn err(&self, op: &'static str, object: &str) -> impl Fn(object_store::Error) -> RemoteError {
        let object = object.to_string();
        let remote = self.url.clone();
        move |source| match source {
            object_store::Error::NotFound { .. } => RemoteError::Missing {
                object: object.clone(),
                remote: remote.clone(),
            },
            source => RemoteError::Store {
                op,
                object: object.clone(),
                remote: remote.clone(),
                source: Box::new(source),
            },
        }
    }

    /// Runs `fut` until the deadline.
    fn run<T>(
        &self,
        op: &'static str,
        object: &str,
        fut: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let timeout = RemoteError::Timeout {
            op,
            object: object.to_string(),
            remote: self.url.clone(),
            limit_s: self.limit.as_secs().max(1),
        };
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(timeout);
        }
        self.rt
            .block_on(async { tokio::time::timeout(left, fut).await })
            .unwrap_or(Err(timeout))
    }

    /// Writes `bytes` as `name` unless an object of that name exists
    /// (`If-None-Match: *`); big objects by multipart upload (completed only
    /// once every part is there, so no partial object stands under the name).
    pub fn put_new(&self, name: &str, bytes: Vec<u8>) -> Result<Put> {
        let path = self.path(name);
        if bytes.len() >= MULTIPART_MIN {
            if self.head(name)?.is_some() {
                return Ok(Put::Existed);
            }
            let err = self.err("PUT", name);
            return self.run("PUT", name, async {
                let upload = self.store.put_multipart(&path).await.map_err(&err)?;
                let mut w = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
                for part in bytes.chunks(PART_BYTES) {
                    w.wait_for_capacity(4).await.map_err(&err)?;
                    w.write(part);
                }
                w.finish().await.map_err(&err)?;
                Ok(Put::Created)
            });
        }
        let err = self.err("PUT", name);
        self.run("PUT", name, async {
            let opts = PutOptions {
                mode: PutMode::Create,
                ..Default::default()
            };
            match self
                .store
                .put_opts(&path, PutPayload::from(bytes), opts)
                .await
            {
                Ok(_) => Ok(Put::Created),
                Err(object_store::Error::AlreadyExists { .. }) => Ok(Put::Existed),
                Err(e) => Err(err(e)),
            }
        })
    }

    /// The object's bytes, refused (unread) when it is larger than `max`.
    pub fn get(&self, name: &str, max: u64) -> Result<Vec<u8>> {
        let path = self.path(name);
        let err = self.err("GET", name);
        self.run("GET", name, async {
            fetch(&*self.store, &path, name, max, &err).await
        })
    }

    /// Fetches `names` (each with the most bytes it may have) with at most
    /// `parallel` requests at once, handing each result to `each(index, result)`
    /// in order; stops at the first error `each` returns.
    pub fn get_each(
        &self,
        names: &[(String, u64)],
        parallel: usize,
        each: &mut dyn FnMut(usize, Result<Vec<u8>>) -> Result<()>,
    ) -> Result<()> {
        let what = format!("{} object(s)", names.len());
        self.run("GET", &what, async {
            let mut s = futures::stream::iter(names.iter().map(|(name, max)| {
                let path = self.path(name);
                let store = self.store.clone();
                let err = self.err("GET", name);
                let name = name.clone();
                let max = *max;
                async move { fetch(&*store, &path, &name, max, &err).await }
            }))
            .buffered(parallel.max(1));
            let mut i = 0;
            while let Some(r) = s.next().await {
                each(i, r)?;
                i += 1;
            }
            Ok(())
        })
    }

    /// The object's size, None when it is not there.
    pub fn head(&self, name: &str) -> Result<Option<u64>> {
        let path = self.path(name);
        let err = self.err("HEAD", name);
        self.run("HEAD", name, async {
            match self.store.head(&path).await {
                Ok(m) => Ok(Some(m.size)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(err(e)),
            }
        })
    }

    /// Every object whose name starts with `prefix` (a directory-like prefix
    /// ending in `/`), with its size: one LIST.
    pub fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>> {
        let dir = self.path(prefix.trim_end_matches('/'));
        let err = self.err("LIST", prefix);
        let strip = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        self.run("LIST", prefix, async {
            let mut out = Vec::new();
            let mut s = self.store.list(Some(&dir));
            while let Some(m) = s.next().await {
                match m {
                    Ok(m) => {
                        let full = m.location.to_string();
                        if let Some(name) = full.strip_prefix(&strip) {
                            out.push((name.to_string(), m.size));
                        }
                    }
                    Err(object_store::Error::NotFound { .. }) => break,
                    Err(e) => return Err(err(e)),
                }
            }
            out.sort();
            Ok(out)
        })
    }

    /// Deletes the object (absent already is fine).
    pub fn delete(&self, name: &str) -> Result<()> {
        let path = self.path(name);
        let err = self.err("DELETE", name);
        self.run("DELETE", name, async {
            match self.store.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(err(e)),
            }
        })
    }
}

async fn fetch(
    store: &dyn ObjectStore,
    path: &ObjPath,
    name: &str,
    max: u64,
    err: &dyn Fn(object_store::Error) -> RemoteError,
) -> Result<Vec<u8>> {
    let got = store.get(path).await.map_err(err)?;
    if got.meta.size > max {
        return Err(RemoteError::Damaged {
            object: name.to_string(),
            why: format!("{} bytes, more than the {max} expected", got.meta.size),
        });
    }
    Ok(got.bytes().await.map_err(err)?.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_machine_counts_as_loopback() {
        for e in [
            "http://127.0.0.1:9000",
            "http://localhost:5000/x",
            "http://[::1]:80",
            "http://127.1.2.3",
        ] {
            assert!(is_loopback(e), "{e}");
        }
        for e in [
            "http://10.0.0.1:9000",
            "http://127.0.0.1.evil.com",
            "http://s3.example.com",
            "http://localhost.evil:1",
        ] {
            assert!(!is_loopback(e), "{e}");
        }
    }

    #[test]
    fn a_directory_remote_puts_once_gets_lists_and_deletes() {
        let d = tempfile::tempdir().unwrap();
        let url = RemoteUrl::File {
            path: d.path().to_path_buf(),
        };
        let b = Backend::open(&url, &S3Settings::default(), Duration::from_secs(10)).unwrap();
        assert_eq!(b.put_new("a/x", b"one".to_vec()).unwrap(), Put::Created);
        assert_eq!(b.put_new("a/x", b"two".to_vec()).unwrap(), Put::Existed);
        assert_eq!(b.get("a/x", 10).unwrap(), b"one");
        assert!(b.get("a/x", 2).is_err(), "larger than expected is refused");
        assert_eq!(b.head("a/x").unwrap(), Some(3));
        assert_eq!(b.head("a/y").unwrap(), None);
        assert_eq!(b.list("a/").unwrap(), vec![("a/x".to_string(), 3)]);
        b.delete("a/x").unwrap();
        assert_eq!(b.list("a/").unwrap(), vec![]);
        assert!(matches!(b.get("a/x", 10), Err(RemoteError::Missing { .. })));
    }
}
