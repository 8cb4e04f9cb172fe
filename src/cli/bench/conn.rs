//! One load thread and its connections: write a batch of frames, read as many answers, repeat.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use hdrhistogram::Histogram;
use ringkv::client::MAX_RESPONSE_LEN;
use ringkv::protocol::codec::write_frame;
use ringkv::protocol::{FrameCodec, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::ReadHalf;
use tokio::net::TcpStream;
use tokio_util::codec::Decoder;

use super::stats::{new_histogram, Shared};
use super::workload::Rng;
use super::Plan;

type Hist = Rc<RefCell<Histogram<u64>>>;

/// Runs one thread's connections to `addrs` (one per entry) and returns its latency histogram.
/// Waits on `barrier` once every connection is open (or failed), so all threads start together.
pub fn run_thread(
    thread: u64,
    addrs: Vec<String>,
    plan: Arc<Plan>,
    shared: Arc<Shared>,
    barrier: Arc<Barrier>,
) -> Histogram<u64> {
    let hist: Hist = Rc::new(RefCell::new(new_histogram()));
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            shared.fail_connect(format!("cannot start a runtime: {e}"));
            barrier.wait();
            return hist.replace(new_histogram());
        }
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async {
        let streams = connect_all(&addrs, &plan, &shared).await;
        // Nothing else runs on this thread yet, so blocking it here is harmless.
        barrier.wait();
        let tasks: Vec<_> = streams
            .into_iter()
            .enumerate()
            .map(|(i, (addr, stream))| {
                let seed = (thread << 32) ^ i as u64;
                let conn = Conn::new(addr, stream, plan.clone(), shared.clone(), hist.clone());
                tokio::task::spawn_local(conn.run(seed))
            })
            .collect();
        for task in tasks {
            let _ = task.await;
        }
    });
    hist.replace(new_histogram())
}

/// Opens one connection per address, stopping at the first failure (noted in `shared`).
async fn connect_all(addrs: &[String], plan: &Plan, shared: &Shared) -> Vec<(String, TcpStream)> {
    let mut streams = Vec::with_capacity(addrs.len());
    for addr in addrs {
        match connect(addr, plan).await {
            Ok(s) => streams.push((addr.clone(), s)),
            Err(e) => {
                shared.fail_connect(e);
                break;
            }
        }
    }
    streams
}

/// Opens a connection and logs in when the plan has credentials.
async fn connect(addr: &str, plan: &Plan) -> Result<TcpStream, String> {
    let timeout = plan.timeout;
    let mut stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| format!("connecting to {addr} took over {timeout:?}"))?
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    stream
        .set_nodelay(true)
        .map_err(|e| format!("cannot set TCP_NODELAY on {addr}: {e}"))?;
    if let Some(credentials) = &plan.credentials {
        let login = log_in(&mut stream, credentials.auth_request());
        match tokio::time::timeout(timeout, login).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(format!("cannot log in to {addr}: {e}")),
            Err(_) => return Err(format!("logging in to {addr} took over {timeout:?}")),
        }
    }
    Ok(stream)
}

/// Sends `auth` (an `Auth` request) under id 0 and reads its answer.
async fn log_in(stream: &mut TcpStream, auth: ringkv::Request) -> Result<(), String> {
    let body = ringkv::protocol::codec::encode(&auth).map_err(|e| e.to_string())?;
    let mut out = BytesMut::new();
    write_frame(0, &body, &mut out);
    stream.write_all(&out).await.map_err(|e| e.to_string())?;
    let mut codec = FrameCodec::new(MAX_RESPONSE_LEN);
    let mut input = BytesMut::new();
    loop {
        if let Some(frame) = codec.decode(&mut input).map_err(|e| e.to_string())? {
            return match frame.decode::<Response>().map_err(|e| e.to_string())? {
                Response::Authed { .. } => Ok(()),
                Response::Error(reply) => Err(reply.message),
                other => Err(format!("unexpected answer: {other:?}")),
            };
        }
        if stream
            .read_buf(&mut input)
            .await
            .map_err(|e| e.to_string())?
            == 0
        {
            return Err("the server closed the connection".into());
        }
    }
}

/// Answers of one batch so far.
#[derive(Default)]
struct Tally {
    ok: u64,
    errors: u64,
}

/// One connection's state; its buffers live as long as it does, so batches allocate nothing.
struct Conn {
    addr: String,
    stream: TcpStream,
    out: BytesMut,
    input: BytesMut,
    codec: FrameCodec,
    next_id: u64,
    plan: Arc<Plan>,
    shared: Arc<Shared>,
    hist: Hist,
}

impl Conn {
    fn new(
        addr: String,
        stream: TcpStream,
        plan: Arc<Plan>,
        shared: Arc<Shared>,
        hist: Hist,
    ) -> Conn {
        Conn {
            addr,
            stream,
            out: BytesMut::with_capacity(4096),
            input: BytesMut::with_capacity(64 * 1024),
            codec: FrameCodec::new(MAX_RESPONSE_LEN),
            next_id: 1,
            plan,
            shared,
            hist,
        }
    }

    /// Sends batches until the run is over or the connection breaks and cannot be reopened.
    async fn run(mut self, seed: u64) {
        let (mut rng, mut scratch, mut seq) = (Rng::new(seed), Vec::new(), 0u64);
        loop {
            let (global, n) = self.shared.claim(self.plan.pipeline);
            if n == 0 {
                return;
            }
            self.out.clear();
            for i in 0..n {
                let key = self.plan.workload.key(global + i, &mut rng);
                let body = self.plan.workload.body(seq, key, &mut scratch);
                write_frame(self.next_id + i, body, &mut self.out);
                seq += 1;
            }
            let mut tally = Tally::default();
            let result =
                tokio::time::timeout(self.plan.timeout, self.exchange(n, &mut tally)).await;
            self.next_id += n;
            let failure = match result {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e),
                Err(_) => Some(format!(
                    "no answer from {} within {:?}",
                    self.addr, self.plan.timeout
                )),
            };
            self.shared.add(tally.ok, n - tally.ok);
            if let Some(e) = failure {
                self.shared.note_error(|| e);
                if !self.reconnect().await {
                    return;
                }
            }
        }
    }

    /// Writes the batch in `out` and reads its `n` answers, concurrently (so a large batch cannot
    /// deadlock on full socket buffers).
    async fn exchange(&mut self, n: u64, tally: &mut Tally) -> Result<(), String> {
        let first = self.next_id;
        let started = Instant::now();
        let (read, mut write) = self.stream.split();
        let send = async {
            write
                .write_all(&self.out)
                .await
                .map_err(|e| format!("write to {}: {e}", self.addr))
        };
        let answers = Answers {
            read,
            input: &mut self.input,
            codec: &mut self.codec,
            hist: &self.hist,
            addr: &self.addr,
        };
        let receive = answers.collect(first, n, started, tally);
        tokio::try_join!(send, receive).map(|_| ())
    }

    async fn reconnect(&mut self) -> bool {
        tokio::time::sleep(Duration::from_millis(100)).await;
        match connect(&self.addr, &self.plan).await {
            Ok(stream) => {
                self.stream = stream;
                self.input.clear();
                true
            }
            Err(e) => {
                self.shared.note_error(|| e);
                false
            }
        }
    }
}

/// The reading side of one batch.
struct Answers<'a> {
    read: ReadHalf<'a>,
    input: &'a mut BytesMut,
    codec: &'a mut FrameCodec,
    hist: &'a RefCell<Histogram<u64>>,
    addr: &'a str,
}

impl Answers<'_> {
    /// Reads until the ids `first..first + n` are all answered, recording each answer's latency.
    async fn collect(
        mut self,
        first: u64,
        n: u64,
        started: Instant,
        tally: &mut Tally,
    ) -> Result<(), String> {
        let protocol = |e: String| format!("bad answer from {}: {e}", self.addr);
        // Answers that arrive in one read share its arrival time: one clock read per read.
        let mut latency = started.elapsed().as_nanos() as u64;
        while tally.ok + tally.errors < n {
            let Some(frame) = self
                .codec
                .decode(self.input)
                .map_err(|e| protocol(e.to_string()))?
            else {
                let read = self.read.read_buf(self.input).await;
                latency = started.elapsed().as_nanos() as u64;
                match read {
                    Ok(0) => return Err(format!("{} closed the connection", self.addr)),
                    Ok(_) => continue,
                    Err(e) => return Err(format!("read from {}: {e}", self.addr)),
                }
            };
            let answer = frame.decode::<Response>();
            if frame.id == 0 {
                return Err(protocol(format!("connection-level error: {answer:?}")));
            }
            if frame.id < first || frame.id >= first + n {
                continue;
            }
            self.hist.borrow_mut().saturating_record(latency);
            match answer {
                Ok(Response::Error(_)) | Err(_) => tally.errors += 1,
                Ok(_) => tally.ok += 1,
            }
        }
        Ok(())
    }
}
