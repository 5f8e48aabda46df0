//! The fault proxy of the remote tests (support/fault_proxy.rs), in front of a
//! real moto server: each mode does what the fault tests count on, modes switch
//! while it runs, it counts connections and requests, holds no more than its
//! bound of connections, and stops by itself when dropped, even holding a hung
//! connection.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::fault_proxy::{FaultProxy, Mode, MAX_CONNECTIONS};
use crate::support::http::{self, Request, Response};
use crate::support::s3::{signed, MotoServer};

fn put(proxy: &FaultProxy, key: &str, body: &[u8], timeout: Duration) -> std::io::Result<Response> {
    let req = Request::new("PUT", &format!("/proxied/{key}"))
        .header("Content-Type", "application/octet-stream")
        .body(body);
    http::send_with_timeout(proxy.addr(), &signed(req), timeout)
}

fn get(proxy: &FaultProxy, key: &str) -> std::io::Result<Response> {
    let req = Request::new("GET", &format!("/proxied/{key}"));
    http::send_with_timeout(proxy.addr(), &signed(req), Duration::from_secs(10))
}

fn noise(len: usize) -> Vec<u8> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn moto_with_bucket() -> MotoServer {
    let moto = MotoServer::start();
    moto.create_bucket("proxied");
    moto
}

#[test]
fn pass_mode_carries_requests_and_answers_byte_for_byte_and_counts_them() {
    let moto = moto_with_bucket();
    let proxy = FaultProxy::start(moto.addr());
    let body = noise(3 * 1024 * 1024 + 17);
    assert_eq!(
        put(&proxy, "k", &body, Duration::from_secs(10))
            .unwrap()
            .status,
        200
    );
    let back = get(&proxy, "k").unwrap();
    assert_eq!(back.status, 200);
    assert!(
        back.body == body,
        "the body came back whole through the proxy"
    );
    assert!(
        moto.get_object("proxied", "k").unwrap() == body,
        "and is on the server"
    );

    // Two requests on one connection are counted as two (the proxy reads the
    // framing; moto itself answers `Connection: close` and ignores the second).
    let mut conn = TcpStream::connect(proxy.addr()).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let head = "HEAD /proxied/k HTTP/1.1\r\nHost: x\r\nAuthorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0\r\n\r\n";
    conn.write_all(head.as_bytes()).unwrap();
    let mut reader = std::io::BufReader::new(conn.try_clone().unwrap());
    let first = http::read_response(&mut reader, true).unwrap();
    assert_eq!(first.status, 200);
    assert_eq!(
        first.header("content-length"),
        Some(body.len().to_string().as_str())
    );
    conn.write_all(head.as_bytes()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while proxy.counts().requests < 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let counts = proxy.counts();
    assert_eq!((counts.connections, counts.requests), (3, 4), "{counts:?}");
}

#[test]
fn error_modes_answer_500_and_503_with_retry_after_and_reach_no_server() {
    let moto = moto_with_bucket();
    let proxy = FaultProxy::start(moto.addr());
    proxy.set_mode(Mode::Fail500);
    let r = put(&proxy, "never", b"body", Duration::from_secs(10)).unwrap();
    assert_eq!(r.status, 500);
    assert!(
        r.text().contains("<Code>InternalError</Code>"),
        "{}",
        r.text()
    );
    assert_eq!(r.header("retry-after"), None);

    proxy.set_mode(Mode::Fail503 {
        retry_after_secs: 7,
    });
    let r = put(&proxy, "never", &noise(200_000), Duration::from_secs(10)).unwrap();
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), Some("7"));
    assert!(r.text().contains("<Code>SlowDown</Code>"), "{}", r.text());
    assert_eq!(
        moto.get_object("proxied", "never"),
        None,
        "nothing reached moto"
    );

    proxy.set_mode(Mode::Pass);
    assert_eq!(
        put(&proxy, "now", b"ok", Duration::from_secs(10))
            .unwrap()
            .status,
        200
    );
    assert_eq!(moto.get_object("proxied", "now").unwrap(), b"ok");
    assert_eq!(proxy.counts().requests, 3);
}

#[test]
fn delay_mode_holds_each_request_that_long_before_passing_it() {
    let moto = moto_with_bucket();
    let proxy = FaultProxy::start(moto.addr());
    let t = Instant::now();
    assert_eq!(
        put(&proxy, "fast", b"x", Duration::from_secs(10))
            .unwrap()
            .status,
        200
    );
    let plain = t.elapsed();
    proxy.set_mode(Mode::Delay(Duration::from_millis(700)));
    let t = Instant::now();
    assert_eq!(
        put(&proxy, "slow", b"y", Duration::from_secs(10))
            .unwrap()
            .status,
        200
    );
    let delayed = t.elapsed();
    assert!(delayed >= Duration::from_millis(700), "{delayed:?}");
    assert!(
        delayed >= plain + Duration::from_millis(500),
        "{plain:?} {delayed:?}"
    );
    assert_eq!(moto.get_object("proxied", "slow").unwrap(), b"y");
}

#[test]
fn reset_mode_cuts_the_connection_after_that_many_bytes_either_way() {
    let moto = moto_with_bucket();
    let proxy = FaultProxy::start(moto.addr());
    let body = noise(1024 * 1024);
    // Upload cut after 64 KiB: the client sees a reset, the server has nothing.
    proxy.set_mode(Mode::ResetAfter(64 * 1024));
    let err = put(&proxy, "cut", &body, Duration::from_secs(10)).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::UnexpectedEof
        ),
        "{err}"
    );
    assert_eq!(
        moto.get_object("proxied", "cut"),
        None,
        "a cut upload stored nothing"
    );
    // Download cut: the request passes, the answer stops short.
    proxy.set_mode(Mode::Pass);
    assert_eq!(
        put(&proxy, "whole", &body, Duration::from_secs(10))
            .unwrap()
            .status,
        200
    );
    proxy.set_mode(Mode::ResetAfter(300 * 1024));
    let err = get(&proxy, "whole").unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::ConnectionReset | ErrorKind::UnexpectedEof
        ),
        "{err}"
    );
    assert_eq!(proxy.counts().resets, 2, "{:?}", proxy.counts());
}

#[test]
fn hang_mode_answers_nothing_and_the_proxy_stops_promptly_when_dropped() {
    let moto = moto_with_bucket();
    let proxy = FaultProxy::start(moto.addr());
    proxy.set_mode(Mode::Hang);
    let t = Instant::now();
    let err = put(&proxy, "hung", b"z", Duration::from_millis(800)).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{err}"
    );
    assert!(t.elapsed() >= Duration::from_millis(700));
    // A connection left hanging by its client, then the proxy dropped.
    let mut held = TcpStream::connect(proxy.addr()).unwrap();
    held.write_all(b"GET /proxied/x HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(proxy.counts().requests, 2);
    assert!(proxy.active() >= 1);
    let t = Instant::now();
    drop(proxy);
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "dropped in {:?}",
        t.elapsed()
    );
    held.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut rest = Vec::new();
    let n = held.read_to_end(&mut rest);
    assert!(
        matches!(n, Ok(0)) || n.is_err(),
        "closed without an answer: {rest:?}"
    );
    assert_eq!(moto.get_object("proxied", "hung"), None);
}

#[test]
fn the_proxy_serves_at_most_its_bound_of_connections_at_once() {
    let moto = moto_with_bucket();
    let proxy = FaultProxy::start(moto.addr());
    let idle: Vec<TcpStream> = (0..MAX_CONNECTIONS)
        .map(|_| TcpStream::connect(proxy.addr()).unwrap())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(5);
    while proxy.active() < MAX_CONNECTIONS && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(proxy.active(), MAX_CONNECTIONS);
    let mut extra = TcpStream::connect(proxy.addr()).unwrap();
    extra
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 1];
    let closed = extra.read(&mut buf);
    assert!(matches!(closed, Ok(0)) || closed.is_err(), "{closed:?}");
    assert_eq!(proxy.counts().refused, 1);
    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(5);
    while proxy.active() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(proxy.active(), 0, "closed clients free their slots");
    assert_eq!(
        put(&proxy, "after", b"ok", Duration::from_secs(10))
            .unwrap()
            .status,
        200
    );
}
