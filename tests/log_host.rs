//! Every log record names the host the client addressed, as the client wrote it: with COS's
//! bucket-in-hostname style the host is what says which bucket a line is about.

mod common;

use common::real::{free_port, records, start_mock, start_sigtap, start_sigtap_args};
use sigtap::proxy::log::Record;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn send(addr: &str, raw: &str) -> String {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(raw.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn the_record_names_the_host_in_both_formats() {
    let r = Record {
        id: 3,
        method: "GET".into(),
        host: Some("photos-1250000000.cos.ap-guangzhou.myqcloud.com".into()),
        target: "/cat.jpg".into(),
        action: sigtap::policy::Action::Forwarded,
        status: 200,
        ..Default::default()
    };
    assert_eq!(
        r.to_json()["host"],
        "photos-1250000000.cos.ap-guangzhou.myqcloud.com"
    );
    assert!(
        r.to_human(false)
            .starts_with("✓ #3 GET photos-1250000000.cos.ap-guangzhou.myqcloud.com/cat.jpg → "),
        "{}",
        r.to_human(false)
    );
    // none written: null, and the line shows the path alone
    let r = Record { host: None, ..r };
    assert!(r.to_json()["host"].is_null());
    assert!(r.to_human(false).starts_with("✓ #3 GET /cat.jpg → "));
    // a Host header is client data like the target: escaped as bytes
    let r = Record {
        host: Some("b.example\u{1b}[2J é".into()),
        ..r
    };
    assert!(
        r.to_human(false)
            .starts_with("✓ #3 GET b.example\\x1b[2J\\x20\\xc3\\xa9/cat.jpg → "),
        "{}",
        r.to_human(false)
    );
}

/// Reverse mode: the Host header as written, with a port only when it has one.
#[test]
fn reverse_mode_records_carry_the_host_header_as_written() {
    let (_mock, maddr) = start_mock(&[]);
    let proxy = start_sigtap(&format!("http://{maddr}"), &[]);
    for host in [
        "photos-1250000000.cos.ap-guangzhou.myqcloud.com",
        "Bucket.S3.example.com:9000",
    ] {
        let answer = send(
            &proxy.addr,
            &format!("GET /cat.jpg HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
        );
        assert!(answer.starts_with("HTTP/1.1 "), "{answer}");
    }
    let recs = records(&proxy);
    let hosts: Vec<_> = recs.iter().map(|r| r["host"].clone()).collect();
    assert_eq!(
        hosts,
        [
            "photos-1250000000.cos.ap-guangzhou.myqcloud.com",
            "Bucket.S3.example.com:9000"
        ],
        "{recs:#?}"
    );
}

/// Forward mode: the absolute-form authority (not the Host header), also on refused requests.
#[test]
fn forward_mode_records_carry_the_authority_even_when_refused() {
    let (_mock, maddr) = start_mock(&[]);
    let port = maddr.rsplit(':').next().unwrap();
    let allowed = format!("bucket-1250000000.cos.ap-guangzhou.myqcloud.com:{port}");
    let proxy = start_sigtap_args(&[
        "proxy",
        "--forward",
        "--allow-host",
        &allowed,
        "--resolve",
        &format!("{allowed}={maddr}"),
        "--port",
        "0",
        "--log-format",
        "json",
    ]);
    let answer = send(
        &proxy.addr,
        &format!(
            "GET http://{allowed}/k HTTP/1.1\r\nHost: other.example\r\nConnection: close\r\n\r\n"
        ),
    );
    assert!(answer.starts_with("HTTP/1.1 "), "{answer}");
    let refused = format!("169.254.169.254:{}", free_port());
    let answer = send(
        &proxy.addr,
        &format!(
            "GET http://{refused}/latest HTTP/1.1\r\nHost: {refused}\r\nConnection: close\r\n\r\n"
        ),
    );
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    let recs = records(&proxy);
    assert_eq!(recs.len(), 2, "{recs:#?}");
    assert_eq!(recs[0]["host"], allowed.as_str(), "{recs:#?}");
    assert_eq!(recs[1]["host"], refused.as_str(), "{recs:#?}");
    assert_eq!(recs[1]["action"], "rejected", "{recs:#?}");
}
