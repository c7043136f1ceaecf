//! The proxy over real UDP sockets on loopback: an echo server behind it.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bluehelm_faultproxy::{FaultProxy, Impairments};
use tokio::net::UdpSocket;

async fn echo_server() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let address = socket.local_addr().expect("address");
    tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        while let Ok((len, from)) = socket.recv_from(&mut buf).await {
            let _ = socket.send_to(&buf[..len], from).await;
        }
    });
    address
}

/// Sends `n` datagrams of `size` bytes through the proxy, `gap` apart, and counts the echoes
/// that come back until `wait` after the last one is sent; the first echo's round trip.
async fn exchange(
    proxy: &FaultProxy,
    n: usize,
    size: usize,
    gap: Duration,
    wait: Duration,
) -> (usize, Option<Duration>) {
    let client = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    client.connect(proxy.address()).await.expect("connect");
    let started = Instant::now();
    let (done, mut stop) = tokio::sync::oneshot::channel::<()>();
    let sender = async {
        for i in 0..n {
            let mut datagram = vec![0u8; size];
            datagram[..8].copy_from_slice(&(i as u64).to_be_bytes());
            client.send(&datagram).await.expect("send");
            if !gap.is_zero() {
                tokio::time::sleep(gap).await;
            }
        }
        tokio::time::sleep(wait).await;
        let _ = done.send(());
    };
    let receiver = async {
        let mut buf = vec![0u8; 2048];
        let mut count = 0;
        let mut first = None;
        loop {
            tokio::select! {
                received = client.recv(&mut buf) => {
                    if received.is_ok() {
                        count += 1;
                        first.get_or_insert_with(|| started.elapsed());
                    }
                }
                _ = &mut stop => return (count, first),
            }
        }
    };
    let ((), answer) = tokio::join!(sender, receiver);
    answer
}

#[tokio::test]
async fn the_round_trip_is_twice_the_delay_and_a_cut_link_passes_nothing() {
    let proxy = FaultProxy::start(
        echo_server().await,
        Impairments {
            delay: Duration::from_millis(100),
            ..Impairments::none()
        },
    )
    .await
    .expect("proxy");
    let (echoed, first) = exchange(
        &proxy,
        20,
        100,
        Duration::from_millis(1),
        Duration::from_millis(600),
    )
    .await;
    assert_eq!(echoed, 20);
    let rtt = first.expect("an echo");
    assert!(
        rtt >= Duration::from_millis(200) && rtt < Duration::from_millis(400),
        "{rtt:?}"
    );

    proxy.cut(true);
    let (echoed, _) = exchange(
        &proxy,
        20,
        100,
        Duration::from_millis(1),
        Duration::from_millis(400),
    )
    .await;
    assert_eq!(echoed, 0, "nothing passes a cut link");
    assert!(proxy.stats().cut.load(Ordering::Relaxed) >= 20);
    proxy.cut(false);
    let (echoed, _) = exchange(
        &proxy,
        5,
        100,
        Duration::from_millis(1),
        Duration::from_millis(400),
    )
    .await;
    assert_eq!(echoed, 5, "and everything once it is restored");
}

#[tokio::test]
async fn loss_duplication_and_the_bandwidth_limit_show_in_what_comes_back() {
    let proxy = FaultProxy::start(
        echo_server().await,
        Impairments {
            loss: 0.2,
            ..Impairments::none()
        },
    )
    .await
    .expect("proxy");
    // Lost either way: about 1 - 0.8 * 0.8 = 36 % of 500.
    let (echoed, _) = exchange(
        &proxy,
        500,
        100,
        Duration::from_micros(200),
        Duration::from_millis(300),
    )
    .await;
    assert!((250..390).contains(&echoed), "{echoed} of 500 echoed");

    proxy.set(Impairments {
        duplicate: 1.0,
        ..Impairments::none()
    });
    let (echoed, _) = exchange(
        &proxy,
        10,
        100,
        Duration::from_millis(1),
        Duration::from_millis(300),
    )
    .await;
    assert_eq!(echoed, 40, "duplicated each way: four copies of each");

    // 100 kbit/s: 1,250 bytes take 100 ms, so 20 of them take 2 s one way at least.
    proxy.set(Impairments {
        bandwidth_bps: Some(100_000),
        buffer_bytes: 1_000_000,
        ..Impairments::none()
    });
    let started = Instant::now();
    let (echoed, _) = exchange(
        &proxy,
        20,
        1250,
        Duration::ZERO,
        Duration::from_millis(4_500),
    )
    .await;
    assert_eq!(echoed, 20);
    assert!(started.elapsed() >= Duration::from_secs(2));
}
