//! The S3 server the remote tests run against (support/s3.rs): moto's server
//! as installed here honours `If-None-Match: *` on PUT and on the completion of
//! a multipart upload (what `tl push` relies on to never overwrite an object),
//! keeps its objects across a restart, refuses connections when stopped and
//! answers nothing when paused; a missing `moto_server` fails naming the
//! install command.

use std::time::{Duration, Instant};

use crate::support::http::{self, Request};
use crate::support::s3::{signed, MotoServer, ObjectInfo, MOTO_MISSING};

/// Starts a multipart upload of `key`, uploads `parts`, returns the
/// completion's answer (sent with `If-None-Match: *`).
fn multipart(moto: &MotoServer, bucket: &str, key: &str, parts: &[Vec<u8>]) -> http::Response {
    let path = format!("/{bucket}/{key}");
    let resp = moto.send(Request::new("POST", &format!("{path}?uploads")));
    assert_eq!(resp.status, 200, "{}", resp.text());
    let text = resp.text();
    let id = text
        .split("<UploadId>")
        .nth(1)
        .and_then(|s| s.split("</UploadId>").next())
        .unwrap()
        .to_string();
    let mut xml = String::from("<CompleteMultipartUpload>");
    for (i, part) in parts.iter().enumerate() {
        let n = i + 1;
        let resp = moto.send(
            Request::new("PUT", &format!("{path}?partNumber={n}&uploadId={id}"))
                .header("Content-Type", "application/octet-stream")
                .body(part.clone()),
        );
        assert_eq!(resp.status, 200, "part {n}: {}", resp.text());
        let etag = resp.header("etag").unwrap().to_string();
        xml.push_str(&format!(
            "<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag></Part>"
        ));
    }
    xml.push_str("</CompleteMultipartUpload>");
    moto.send(
        Request::new("POST", &format!("{path}?uploadId={id}"))
            .header("Content-Type", "application/xml")
            .header("If-None-Match", "*")
            .body(xml),
    )
}

fn five_mib(seed: u8) -> Vec<u8> {
    (0..5 * 1024 * 1024)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8 ^ seed)
        .collect()
}

#[test]
fn moto_refuses_a_put_with_if_none_match_over_an_existing_object() {
    let moto = MotoServer::start();
    moto.create_bucket("inm-put");
    let first = moto.put_object_raw("inm-put", "seg/1", b"first", Some("*"));
    assert_eq!(first.status, 200, "{}", first.text());
    let again = moto.put_object_raw("inm-put", "seg/1", b"second", Some("*"));
    assert_eq!(again.status, 412, "{}", again.text());
    assert!(
        again.text().contains("PreconditionFailed"),
        "{}",
        again.text()
    );
    assert_eq!(
        moto.get_object("inm-put", "seg/1").unwrap(),
        b"first",
        "a refused conditional put left the object as it was"
    );
    // Without the condition the same put overwrites (the condition is what refused).
    moto.put_object("inm-put", "seg/1", b"third");
    assert_eq!(moto.get_object("inm-put", "seg/1").unwrap(), b"third");
}

#[test]
fn moto_refuses_a_multipart_completion_with_if_none_match_over_an_existing_object() {
    let moto = MotoServer::start();
    moto.create_bucket("inm-multipart");
    let (a, b) = (five_mib(1), b"tail of the object".to_vec());
    let done = multipart(&moto, "inm-multipart", "big", &[a.clone(), b.clone()]);
    assert_eq!(done.status, 200, "{}", done.text());
    let whole = moto.get_object("inm-multipart", "big").unwrap();
    assert_eq!(whole.len(), a.len() + b.len());
    assert!(whole == [a.clone(), b].concat(), "parts joined in order");

    let refused = multipart(&moto, "inm-multipart", "big", &[five_mib(2)]);
    assert_eq!(refused.status, 412, "{}", refused.text());
    assert_eq!(
        moto.get_object("inm-multipart", "big").unwrap().len(),
        whole.len(),
        "the refused upload did not replace the object"
    );
    assert!(moto.get_object("inm-multipart", "big").unwrap() == whole);
}

#[test]
fn a_restarted_moto_has_the_objects_it_held_including_multipart_ones() {
    let mut moto = MotoServer::start();
    moto.create_bucket("restart");
    moto.put_object("restart", "a/small", b"small object");
    moto.put_object("restart", "a/gone", b"deleted before the restart");
    moto.delete_object("restart", "a/gone");
    let part = five_mib(3);
    assert_eq!(
        multipart(&moto, "restart", "a/big", &[part.clone(), b"end".to_vec()]).status,
        200
    );
    let before = moto.list_objects("restart");
    assert_eq!(
        before.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(),
        ["a/big", "a/small"]
    );

    moto.restart();
    assert_eq!(moto.list_objects("restart"), before);
    assert_eq!(
        moto.get_object("restart", "a/small").unwrap(),
        b"small object"
    );
    assert!(moto.get_object("restart", "a/big").unwrap() == [part, b"end".to_vec()].concat());
    assert_eq!(moto.get_object("restart", "a/gone"), None);

    // And again: the second restart replays what the first one replayed.
    moto.put_object("restart", "b/after", b"written after the first restart");
    moto.restart();
    let after = moto.list_objects("restart");
    assert_eq!(after.len(), 3, "{after:?}");
    assert!(after.contains(&ObjectInfo {
        key: "b/after".into(),
        size: 31
    }));
}

#[test]
fn a_stopped_moto_refuses_connections_and_a_paused_one_answers_nothing() {
    let mut moto = MotoServer::start();
    moto.create_bucket("faults");
    let addr = moto.addr();
    let probe = move || {
        http::send_with_timeout(
            addr,
            &signed(Request::new("GET", "/faults?list-type=2")),
            Duration::from_millis(500),
        )
    };
    assert_eq!(probe().unwrap().status, 200);

    moto.pause();
    let t = Instant::now();
    let err = probe().unwrap_err();
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "a paused server accepts (the kernel does) and never answers: {err}"
    );
    assert!(t.elapsed() >= Duration::from_millis(400));
    moto.resume();
    assert_eq!(probe().unwrap().status, 200);

    let port = moto.port();
    moto.stop();
    let err = probe().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
    moto.restart();
    assert_eq!(moto.port(), port, "restarted on the same port");
    assert_eq!(probe().unwrap().status, 200, "the bucket is back");
}

#[test]
fn a_missing_moto_server_fails_naming_the_install_command() {
    let panic = std::panic::catch_unwind(|| MotoServer::start_program("moto_server-not-installed"))
        .err()
        .expect("starting a missing program must fail");
    let msg = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap();
    assert_eq!(msg, MOTO_MISSING);
    assert!(msg.contains("pip install 'moto[server]'"));
}
