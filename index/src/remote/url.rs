//! Remote URLs: `s3://bucket/prefix` (any S3-compatible service) or
//! `file:///path` (a mounted disk or NAS).

use std::fmt;
use std::path::PathBuf;

use super::{RemoteError, Result};

/// Where a remote lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RemoteUrl {
    /// A directory on a mounted file system.
    File {
        /// Absolute path.
        path: PathBuf,
    },
    /// A bucket and a key prefix (no leading or trailing `/`; may be empty).
    S3 {
        /// The bucket.
        bucket: String,
        /// The prefix inside it.
        prefix: String,
    },
}

impl RemoteUrl {
    /// Parses `s3://bucket[/prefix]` or `file:///absolute/path`.
    pub fn parse(url: &str) -> Result<RemoteUrl> {
        let bad = |why: &str| RemoteError::BadUrl {
            url: url.to_string(),
            why: why.to_string(),
        };
        if let Some(rest) = url.strip_prefix("file://") {
            if !rest.starts_with('/') {
                return Err(bad(
                    "a file URL needs an absolute path: file:///mnt/backup/proj",
                ));
            }
            let path = PathBuf::from(rest);
            if path
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
            {
                return Err(bad("'..' in the path"));
            }
            return Ok(RemoteUrl::File { path });
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad("no bucket"));
            }
            let bucket_ok = bucket.len() >= 3
                && bucket.len() <= 63
                && bucket.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-'
                });
            if !bucket_ok {
                return Err(bad(
                    "a bucket name is 3 to 63 lowercase letters, digits, '.' and '-'",
                ));
            }
            let prefix = prefix.trim_matches('/');
            if prefix
                .split('/')
                .any(|p| p == "." || p == ".." || (p.is_empty() && !prefix.is_empty()))
            {
                return Err(bad("empty, '.' or '..' component in the prefix"));
            }
            return Ok(RemoteUrl::S3 {
                bucket: bucket.to_string(),
                prefix: prefix.to_string(),
            });
        }
        Err(bad("unknown scheme"))
    }
}

impl fmt::Display for RemoteUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteUrl::File { path } => write!(f, "file://{}", path.display()),
            RemoteUrl::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            RemoteUrl::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_and_file_urls_parse_and_print_back() {
        for u in [
            "s3://my-bucket",
            "s3://my-bucket/a/b",
            "file:///mnt/usb/proj",
        ] {
            assert_eq!(RemoteUrl::parse(u).unwrap().to_string(), u);
        }
        assert_eq!(
            RemoteUrl::parse("s3://bkt/p/").unwrap(),
            RemoteUrl::S3 {
                bucket: "bkt".into(),
                prefix: "p".into()
            }
        );
    }

    #[test]
    fn urls_that_name_no_place_are_refused() {
        for u in [
            "http://x",
            "s3://",
            "s3://A_B/x",
            "s3://bkt/a//b",
            "s3://bkt/../x",
            "file://relative",
            "file:///a/../b",
            "/plain/path",
        ] {
            assert!(RemoteUrl::parse(u).is_err(), "{u}");
        }
    }
}
