//! age encryption of what a remote stores: X25519 recipients (`age1...`) for the
//! pushing machine, which needs only the public keys; identity files as
//! `age-keygen` writes them for clone, fetch and deep verify.

use std::io::{Read, Write};
use std::path::Path;
use std::str::FromStr;

use super::{RemoteError, Result};

/// The first bytes of every age file (binary format, version 1).
const AGE_MAGIC: &[u8] = b"age-encryption.org/v1\n";

/// True when `bytes` are an age file.
pub fn is_encrypted(bytes: &[u8]) -> bool {
    bytes.starts_with(AGE_MAGIC)
}

/// The recipients a remote's objects are encrypted to.
pub struct Recipients(Vec<age::x25519::Recipient>);

impl Recipients {
    /// Parses `age1...` public keys; at least one.
    pub fn parse(list: &[String]) -> Result<Recipients> {
        let mut out = Vec::with_capacity(list.len());
        for r in list {
            let k = age::x25519::Recipient::from_str(r.trim()).map_err(|why| {
                RemoteError::BadRecipient {
                    recipient: r.clone(),
                    why: why.to_string(),
                }
            })?;
            out.push(k);
        }
        if out.is_empty() {
            return Err(RemoteError::BadRecipient {
                recipient: String::new(),
                why: "no recipient".into(),
            });
        }
        Ok(Recipients(out))
    }

    /// `plain` encrypted to every recipient (`object` names it in errors).
    pub fn encrypt(&self, object: &str, plain: &[u8]) -> Result<Vec<u8>> {
        let err = |why: String| RemoteError::Encrypt {
            object: object.to_string(),
            why,
        };
        let enc = age::Encryptor::with_recipients(self.0.iter().map(|r| r as &dyn age::Recipient))
            .map_err(|e| err(e.to_string()))?;
        let mut out = Vec::with_capacity(plain.len() + 256);
        let mut w = enc.wrap_output(&mut out).map_err(|e| err(e.to_string()))?;
        w.write_all(plain).map_err(|e| err(e.to_string()))?;
        w.finish().map_err(|e| err(e.to_string()))?;
        Ok(out)
    }
}

/// The identities that decrypt a remote's objects.
pub struct Identities(Vec<Box<dyn age::Identity + Send + Sync>>);

impl Identities {
    /// Reads an identity file (`AGE-SECRET-KEY-1...` lines, `#` comments).
    pub fn from_file(path: &Path) -> Result<Identities> {
        let bad = |why: String| RemoteError::BadIdentity {
            path: path.to_path_buf(),
            why,
        };
        let text = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        let file = age::IdentityFile::from_buffer(&text[..]).map_err(|e| bad(e.to_string()))?;
        let ids = file.into_identities().map_err(|e| bad(e.to_string()))?;
        if ids.is_empty() {
            return Err(bad("it holds no identity".into()));
        }
        Ok(Identities(ids))
    }

    /// Decrypts `bytes` (`object` names it in errors).
    pub fn decrypt(&self, object: &str, bytes: &[u8]) -> Result<Vec<u8>> {
        let err = |why: String| RemoteError::Decrypt {
            object: object.to_string(),
            why,
        };
        let d = age::Decryptor::new_buffered(bytes).map_err(|e| err(e.to_string()))?;
        let mut r = d
            .decrypt(self.0.iter().map(|i| i.as_ref() as &dyn age::Identity))
            .map_err(|e| err(e.to_string()))?;
        let mut out = Vec::with_capacity(bytes.len());
        r.read_to_end(&mut out).map_err(|e| err(e.to_string()))?;
        Ok(out)
    }
}

/// Opens what a remote stored: decrypts an age object with `identities`
/// (refusing without them), returns plaintext as it is.
pub fn open_object(
    object: &str,
    bytes: Vec<u8>,
    identities: Option<&Identities>,
) -> Result<Vec<u8>> {
    if !is_encrypted(&bytes) {
        return Ok(bytes);
    }
    match identities {
        Some(ids) => ids.decrypt(object, &bytes),
        None => Err(RemoteError::IdentityNeeded),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    #[test]
    fn what_is_encrypted_to_a_recipient_opens_with_its_identity_only() {
        let id = age::x25519::Identity::generate();
        let other = age::x25519::Identity::generate();
        let r = Recipients::parse(&[id.to_public().to_string()]).unwrap();
        let sealed = r.encrypt("o", b"secret bytes").unwrap();
        assert!(is_encrypted(&sealed));
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, key: &age::x25519::Identity| {
            let p = dir.path().join(name);
            std::fs::write(&p, format!("# test\n{}\n", key.to_string().expose_secret())).unwrap();
            Identities::from_file(&p).unwrap()
        };
        let mine = write("mine", &id);
        assert_eq!(
            open_object("o", sealed.clone(), Some(&mine)).unwrap(),
            b"secret bytes"
        );
        assert!(matches!(
            open_object("o", sealed.clone(), None),
            Err(RemoteError::IdentityNeeded)
        ));
        let theirs = write("theirs", &other);
        assert!(open_object("o", sealed, Some(&theirs)).is_err());
    }
}
