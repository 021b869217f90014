//! A relay in front of the serial moto (HTTP/1.0, one request a connection) that loses moto's
//! answer to one chosen request: the request is applied, and the client's connection is closed
//! unanswered, as when a response is lost on the network after the write.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct LossyRelay {
    pub endpoint: String,
    lost: Arc<AtomicU32>,
    task: tokio::task::JoinHandle<()>,
}

impl LossyRelay {
    /// Relays to `upstream` (`http://host:port`); the answer to the first request that holds
    /// every one of `needles` (in its head or body) is lost.
    pub async fn start(upstream: &str, needles: &[&str]) -> Self {
        let upstream = upstream.trim_start_matches("http://").to_string();
        let needles: Vec<String> = needles.iter().map(|n| n.to_string()).collect();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("relay binds");
        let endpoint = format!("http://{}", listener.local_addr().expect("relay address"));
        let lost = Arc::new(AtomicU32::new(0));
        let counter = Arc::clone(&lost);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (upstream, needles, lost) =
                    (upstream.clone(), needles.clone(), Arc::clone(&counter));
                tokio::spawn(async move {
                    let _ = relay(client, &upstream, &needles, &lost).await;
                });
            }
        });
        Self {
            endpoint,
            lost,
            task,
        }
    }

    /// How many answers were lost (0 or 1).
    pub fn lost(&self) -> u32 {
        self.lost.load(Ordering::SeqCst)
    }
}

impl Drop for LossyRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(
    mut client: TcpStream,
    upstream: &str,
    needles: &[String],
    lost: &AtomicU32,
) -> std::io::Result<()> {
    let request = read_request(&mut client).await?;
    let mut server = TcpStream::connect(upstream).await?;
    server.write_all(&request).await?;
    let mut response = Vec::new();
    server.read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&request);
    let chosen = needles.iter().all(|needle| text.contains(needle.as_str()));
    if chosen
        && lost
            .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    {
        return Ok(());
    }
    client.write_all(&response).await?;
    client.shutdown().await
}

/// One request: its head, then as many body bytes as its `Content-Length` says.
async fn read_request(client: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut request = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(head_end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&request[..head_end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse().ok())
                .unwrap_or(0);
            if request.len() >= head_end + 4 + length {
                return Ok(request);
            }
        }
        let read = client.read(&mut chunk).await?;
        if read == 0 {
            return Ok(request);
        }
        request.extend_from_slice(&chunk[..read]);
    }
}
