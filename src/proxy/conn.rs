//! The connection loop every client connection runs, whatever moves its bytes afterwards:
//! wait for a request within `--header-timeout`, read its head under the rules of `head.rs`
//! (a refused head gets the service's error document and a log record, then the connection
//! closes), plan it (`plan`: inspect, decide, re-sign), and hand it to a transport: the lean
//! transport for small requests to a plain-http upstream, hyper for everything else. Both
//! hand the connection back for the next request.

use super::head::{self, Parsed};
use super::lean::{self, Memo, UpConn};
use super::pipeline::{plan, refuse_head, Planned};
use super::State;

use bytes::BytesMut;
use std::sync::Arc;
use std::time::Instant;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::watch;

/// Resolves at `t`, or never.
async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

/// Serves one client connection until it closes or the proxy stops.
pub(super) async fn serve(st: Arc<State>, mut client: TcpStream, mut stop: watch::Receiver<bool>) {
    let lean_ok = lean::enabled(&st);
    let mut buf = BytesMut::with_capacity(8 * 1024);
    let mut up: Option<UpConn> = None;
    let mut memo: Option<Memo> = None;
    // the previous head: a head is remembered when it comes a second time in a row, so that
    // traffic whose heads all differ never pays for copying the plan
    let mut last_head: Vec<u8> = Vec::new();
    // read space for bodies the hyper transport streams (allocated on first use)
    let mut scratch: Vec<u8> = Vec::new();
    loop {
        // --header-timeout bounds the wait for the next request and its whole head, from the
        // moment the connection was opened or the previous answer went out
        let head_deadline = st.cfg.clock.instant() + st.cfg.header_timeout;
        while buf.is_empty() {
            // idle between requests: wait for the next one or the shutdown, and let the kept
            // upstream connection go once it has been idle for --upstream-idle
            let idle_until = up.as_ref().map(|c| c.idle_since + st.cfg.upstream_idle);
            tokio::select! {
                r = client.read_buf(&mut buf) => match r {
                    Ok(n) if n > 0 => {}
                    _ => return,
                },
                _ = stop.changed() => return,
                _ = sleep_until(idle_until) => up = None,
                _ = tokio::time::sleep_until(head_deadline.into()) => return,
            }
        }
        // a head byte-identical to the remembered one, within the same second: it passed the
        // rules and was planned already (a body of the same length follows it)
        if let Some(m) = memo.as_ref() {
            let need = m.head.len() + m.body;
            if buf.len() >= need && buf.starts_with(&m.head) {
                let second = st.cfg.clock.now();
                let offset = st.clocks.offset(lean::upstream_authority(&st));
                if m.second == second && m.offset == offset {
                    let started = st.cfg.clock.instant();
                    let request = buf.split_to(need);
                    let mut o = m.planned.clone();
                    o.rec.id = st.next_id();
                    o.started = started;
                    let body = &request[m.head.len()..];
                    let close = m.close;
                    let keep =
                        lean::send(&st, o, &m.upstream_head, body, &mut client, &mut up, close)
                            .await;
                    if close || !keep {
                        return;
                    }
                    continue;
                }
            }
        }
        let head = loop {
            match head::parse(&buf) {
                Parsed::Complete(h) => break h,
                Parsed::Refused(r) => {
                    let resp = refuse_head(&st, r, st.cfg.clock.now(), st.cfg.clock.instant());
                    let _ = lean::write_local(&mut client, resp, true).await;
                    return;
                }
                Parsed::Partial => {
                    match tokio::time::timeout_at(head_deadline.into(), client.read_buf(&mut buf))
                        .await
                    {
                        Ok(Ok(n)) if n > 0 => {}
                        _ => return,
                    }
                }
            }
        };
        let started = st.cfg.clock.instant();
        let close = head.close;
        // the lean transport takes a small body whole: wait for it as for the head
        let lean_body = lean_ok.then(|| lean::serves(&head)).flatten();
        let whole = match lean_body {
            Some(n) => loop {
                if buf.len() >= head.len + n {
                    break Some(n);
                }
                match tokio::time::timeout_at(head_deadline.into(), client.read_buf(&mut buf)).await
                {
                    Ok(Ok(got)) if got > 0 => {}
                    // slower than the header timeout: hyper streams it instead
                    Err(_) => break None,
                    _ => return,
                }
            },
            None => None,
        };
        let keep = match whole {
            Some(n) => {
                let request = buf.split_to(head.len + n);
                let (head_bytes, body) = request.split_at(head.len);
                let second = st.cfg.clock.now();
                let offset = st.clocks.offset(lean::upstream_authority(&st));
                match plan(&st, head.to_wire(head_bytes), second, started) {
                    Planned::Local(local) => {
                        memo = None;
                        let resp = local.finish(&st);
                        lean::write_local(&mut client, resp, close).await.is_ok()
                    }
                    Planned::Forward(o) => {
                        let upstream_head = lean::request_head(&o);
                        // upload ids depend on what the proxy saw before: never remembered
                        memo = (o.upload.is_none() && last_head == head_bytes).then(|| Memo {
                            head: head_bytes.to_vec(),
                            body: n,
                            close,
                            second,
                            offset,
                            planned: (*o).clone(),
                            upstream_head: upstream_head.clone(),
                        });
                        last_head.clear();
                        last_head.extend_from_slice(head_bytes);
                        lean::send(&st, *o, &upstream_head, body, &mut client, &mut up, close).await
                    }
                }
            }
            None => {
                let planned = plan(&st, head.to_wire(&buf), st.cfg.clock.now(), started);
                super::via_hyper::serve(&st, &head, planned, &mut client, &mut buf, &mut scratch)
                    .await
            }
        };
        if close || !keep {
            return;
        }
    }
}
