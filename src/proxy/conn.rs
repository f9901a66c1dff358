//! The connection loop every client connection runs, whatever moves its bytes afterwards and
//! whatever carries them (plain TCP, the TLS listener, TLS inside an intercepted tunnel):
//! wait for a request within `--header-timeout`, read its head under the rules of `head.rs`
//! (a refused head gets the service's error document and a log record, then the connection
//! closes), plan it (`plan`: inspect, decide, re-sign), and hand it to a transport: the lean
//! transport for small requests to a plain-http upstream, hyper for everything else. Both
//! hand the connection back for the next request. A `CONNECT` the allow list permits ends
//! the loop with `After::Tunnel`: the caller answers it with TLS (`tunnel.rs`).

use super::head::{self, Parsed};
use super::lean::{self, Memo, UpConn};
use super::pipeline::{plan, plan_connect, refuse_head, Planned};
use super::upstream::Authority;
use super::{Arrival, ClientIo, State};

use bytes::BytesMut;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

/// How a connection loop ended.
pub(super) enum After {
    /// The connection is done (closed, timed out, or not to be reused).
    Closed,
    /// A `CONNECT` to an allowed host was answered `200`: the client starts TLS for `to` next.
    /// `early` holds bytes it sent after the CONNECT head without waiting.
    Tunnel { to: Authority, early: BytesMut },
}

/// Serves one client connection until it closes or the proxy stops.
pub(super) async fn serve<S: ClientIo>(
    st: Arc<State>,
    client: &mut S,
    arrival: &Arrival,
    mut stop: watch::Receiver<bool>,
) -> After {
    let client = &mut *client;
    // the lean transport dials plain TCP: never inside a tunnel, whose upstream is TLS
    let lean_ok = lean::enabled(&st) && arrival.tunnel.is_none();
    let mut buf = BytesMut::with_capacity(8 * 1024);
    let mut up: Option<UpConn> = None;
    let mut memo: Option<Memo> = None;
    // the previous head: a head is remembered when it comes a second time in a row, so that
    // traffic whose heads all differ never pays for copying the plan
    let mut last_head: Vec<u8> = Vec::new();
    // One timer for the connection's waits, set lazily: a request moves the deadlines (plain
    // variables) but not the timer; when it fires early it is set again to the nearest deadline
    // still ahead. So a busy connection touches the runtime's timer wheel about once per
    // --header-timeout instead of twice per request (registering a timer takes the wheel's lock
    // and can wake the driver).
    let first = st.cfg.clock.instant() + st.cfg.header_timeout;
    let mut timer = Box::pin(tokio::time::sleep_until(first.into()));
    let mut timer_at = first;
    loop {
        // --header-timeout bounds the wait for the next request and its whole head, from the
        // moment the connection was opened or the previous answer went out
        let head_deadline = st.cfg.clock.instant() + st.cfg.header_timeout;
        while buf.is_empty() {
            // idle between requests: wait for the next one or the shutdown, and let the kept
            // upstream connection go once it has been idle for --upstream-idle
            let idle_until = up.as_ref().map(|c| c.idle_since + st.cfg.upstream_idle);
            let due = idle_until.map_or(head_deadline, |i| i.min(head_deadline));
            if due < timer_at {
                timer.as_mut().reset(due.into());
                timer_at = due;
            }
            tokio::select! {
                r = client.read_buf(&mut buf) => match r {
                    Ok(n) if n > 0 => {}
                    _ => return After::Closed,
                },
                _ = stop.changed() => return After::Closed,
                _ = &mut timer => {
                    let now = st.cfg.clock.instant();
                    if now >= head_deadline {
                        return After::Closed;
                    }
                    if idle_until.is_some_and(|i| now >= i) {
                        up = None;
                    }
                    // early: wait again for the nearest deadline still ahead
                    let next = up
                        .as_ref()
                        .map(|c| c.idle_since + st.cfg.upstream_idle)
                        .filter(|i| *i > now)
                        .map_or(head_deadline, |i| i.min(head_deadline));
                    timer.as_mut().reset(next.into());
                    timer_at = next;
                }
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
                        lean::send(&st, o, &m.upstream_head, body, client, &mut up, close).await;
                    if close || !keep {
                        return After::Closed;
                    }
                    continue;
                }
            }
        }
        let head = loop {
            match head::parse(&buf) {
                Parsed::Complete(h) => break h,
                Parsed::Refused(r) => {
                    let (now, started) = (st.cfg.clock.now(), st.cfg.clock.instant());
                    let resp = refuse_head(&st, r, arrival, now, started);
                    let _ = lean::write_local(client, resp, true).await;
                    return After::Closed;
                }
                Parsed::Partial => {
                    match tokio::time::timeout_at(head_deadline.into(), client.read_buf(&mut buf))
                        .await
                    {
                        Ok(Ok(n)) if n > 0 => {}
                        _ => return After::Closed,
                    }
                }
            }
        };
        let started = st.cfg.clock.instant();
        let close = head.close;
        if head.method(&buf) == "CONNECT" && arrival.tunnel.is_none() {
            let target = head.target(&buf).to_string();
            let wire = head.to_wire(&buf);
            return match plan_connect(&st, &target, wire, st.cfg.clock.now(), started) {
                Ok(to) => {
                    let _ = buf.split_to(head.len);
                    let ok = b"HTTP/1.1 200 Connection established\r\n\r\n";
                    match client.write_all(ok).await {
                        Ok(()) if client.flush().await.is_ok() => After::Tunnel { to, early: buf },
                        _ => After::Closed,
                    }
                }
                Err(local) => {
                    let _ = lean::write_local(client, local.finish(&st), true).await;
                    After::Closed
                }
            };
        }
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
                    _ => return After::Closed,
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
                match plan(&st, head.to_wire(head_bytes), arrival, second, started) {
                    Planned::Local(local) => {
                        memo = None;
                        let resp = local.finish(&st);
                        lean::write_local(client, resp, close).await.is_ok()
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
                        lean::send(&st, *o, &upstream_head, body, client, &mut up, close).await
                    }
                }
            }
            None => {
                let now = st.cfg.clock.now();
                let planned = plan(&st, head.to_wire(&buf), arrival, now, started);
                super::via_hyper::serve(&st, &head, planned, client, &mut buf).await
            }
        };
        if close || !keep {
            return After::Closed;
        }
    }
}
