//! The event-driven mode of the vendored turmoil (vendor/turmoil, issue 16): timers fire at
//! their exact millisecond, idle time costs no steps, per-link delivery order, partitions
//! (both ways and one way), hold/release, link latency, crash/bounce and the simulated fs.
//! Each test states a fact that the stock tick-driven mode would also give, plus what only
//! the event mode gives (few steps, exact stops).

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use turmoil::net::{TcpListener, TcpStream, UdpSocket};
use turmoil::{Builder, Sim};

const PORT: u16 = 1234;

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn now_ms() -> u64 {
    turmoil::sim_elapsed().expect("inside a host").as_millis() as u64
}

fn event_sim(latency_ms: u64) -> Sim<'static> {
    Builder::new()
        .event_driven()
        .simulation_duration(Duration::from_secs(3600))
        .min_message_latency(ms(latency_ms))
        .max_message_latency(ms(latency_ms))
        .rng_seed(7)
        .build()
}

/// Steps until `until` (simulated), returning how many steps it took.
fn step_to(sim: &mut Sim<'_>, until: u64) -> u64 {
    let mut steps = 0;
    while sim.elapsed() < ms(until) {
        sim.step_until(ms(until)).expect("step");
        steps += 1;
    }
    steps
}

#[test]
fn timers_fire_at_their_exact_millisecond_and_idle_time_costs_no_steps() {
    let mut sim = event_sim(1);
    assert!(sim.is_event_driven());
    let fired = Rc::new(RefCell::new(Vec::new()));
    let f = fired.clone();
    sim.client("c", async move {
        for d in [7u64, 993, 1, 58_999, 3] {
            tokio::time::sleep(ms(d)).await;
            f.borrow_mut().push(now_ms());
        }
        Ok(())
    });
    let mut steps = 0;
    while !sim.step().expect("step") {
        steps += 1;
    }
    assert_eq!(*fired.borrow(), vec![7, 1000, 1001, 60_000, 60_003]);
    assert_eq!(
        sim.elapsed(),
        ms(60_003),
        "the clock stops at the last timer, not a tick later"
    );
    assert!(steps <= 6, "one step per timer, not one per ms: {steps}");
}

#[test]
fn step_until_stops_exactly_at_the_limit_without_events() {
    let mut sim = event_sim(1);
    sim.client("c", async move {
        tokio::time::sleep(Duration::from_secs(100)).await;
        Ok(())
    });
    sim.step_until(ms(2_500)).expect("step");
    sim.step_until(ms(2_500)).expect("step");
    assert_eq!(sim.elapsed(), ms(2_500));
    assert_eq!(step_to(&mut sim, 2_501), 1);
    assert_eq!(sim.elapsed(), ms(2_501));
}

/// A server on `server` that records (arrival ms, byte) for every byte read on one connection.
fn tcp_recorder(sim: &mut Sim<'_>, got: Rc<RefCell<Vec<(u64, u8)>>>) {
    sim.host("server", move || {
        let got = got.clone();
        async move {
            let l = TcpListener::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), PORT)).await?;
            let (mut s, _) = l.accept().await?;
            let mut buf = [0u8; 64];
            loop {
                let n = s.read(&mut buf).await?;
                if n == 0 {
                    return Ok(());
                }
                let t = now_ms();
                got.borrow_mut().extend(buf[..n].iter().map(|b| (t, *b)));
            }
        }
    });
}

#[test]
fn tcp_bytes_arrive_in_send_order_within_the_latency_range() {
    let mut sim = Builder::new()
        .event_driven()
        .min_message_latency(ms(1))
        .max_message_latency(ms(40))
        .rng_seed(11)
        .build();
    let got = Rc::new(RefCell::new(Vec::new()));
    tcp_recorder(&mut sim, got.clone());
    let sent = Rc::new(RefCell::new(Vec::new()));
    let s2 = sent.clone();
    sim.client("client", async move {
        let mut s = TcpStream::connect(("server", PORT)).await?;
        for i in 0..200u8 {
            s.write_all(&[i]).await?;
            s2.borrow_mut().push(now_ms());
            tokio::time::sleep(ms(u64::from(i % 3))).await;
        }
        tokio::time::sleep(ms(100)).await;
        Ok(())
    });
    sim.run().expect("run");
    let got = got.borrow();
    let bytes: Vec<u8> = got.iter().map(|(_, b)| *b).collect();
    assert_eq!(bytes, (0..200u8).collect::<Vec<_>>(), "per-link order kept");
    for ((t, b), at) in got.iter().zip(sent.borrow().iter()) {
        assert!(*t > *at, "byte {b} sent at {at} ms arrived at {t} ms");
        // TCP holds a byte for the ones before it, so only the lower bound is per byte.
    }
    assert!(got.windows(2).all(|w| w[0].0 <= w[1].0), "arrival times never go back");
}

#[test]
fn link_latency_is_exact() {
    let mut sim = event_sim(5);
    let got = Rc::new(RefCell::new(Vec::new()));
    tcp_recorder(&mut sim, got.clone());
    sim.client("client", async move {
        let mut s = TcpStream::connect(("server", PORT)).await?;
        tokio::time::sleep(ms(1000 - now_ms())).await;
        s.write_all(b"a").await?;
        tokio::time::sleep(ms(500)).await;
        Ok(())
    });
    step_to(&mut sim, 500);
    sim.set_link_latency("client", "server", ms(37));
    sim.run().expect("run");
    assert_eq!(*got.borrow(), vec![(1037, b'a')]);
}

/// Two UDP hosts; `a` sends one datagram to `b` (and `b` one to `a`) every 10 ms, each
/// records what it got and when.
type Log = Rc<RefCell<Vec<(u64, u32)>>>;

fn udp_pair(sim: &mut Sim<'_>) -> (Log, Log) {
    let (la, lb): (Log, Log) = (Rc::default(), Rc::default());
    for (me, peer, log) in [("a", "b", la.clone()), ("b", "a", lb.clone())] {
        sim.host(me, move || {
            let log = log.clone();
            async move {
                let sock = Rc::new(UdpSocket::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), PORT)).await?);
                let tx = sock.clone();
                tokio::task::spawn_local(async move {
                    for i in 0u32.. {
                        let _ = tx.send_to(&i.to_be_bytes(), (peer, PORT)).await;
                        tokio::time::sleep(ms(10)).await;
                    }
                });
                let mut buf = [0u8; 4];
                loop {
                    let (n, _) = sock.recv_from(&mut buf).await?;
                    assert_eq!(n, 4);
                    log.borrow_mut().push((now_ms(), u32::from_be_bytes(buf)));
                }
            }
        });
    }
    (la, lb)
}

fn got_between(log: &Log, from: u64, to: u64) -> usize {
    log.borrow().iter().filter(|(t, _)| *t >= from && *t < to).count()
}

#[test]
fn partitions_both_ways_and_one_way_drop_and_repair_restores() {
    let mut sim = event_sim(2);
    let (a, b) = udp_pair(&mut sim);
    step_to(&mut sim, 100);
    sim.partition("a", "b");
    step_to(&mut sim, 200);
    sim.repair("a", "b");
    step_to(&mut sim, 300);
    sim.partition_oneway("a", "b");
    step_to(&mut sim, 400);
    sim.repair_oneway("a", "b");
    step_to(&mut sim, 500);
    // Sent at 0, 10, ... and delivered 2 ms later: 10 per 100 ms when the way is open. A
    // fault applied at T acts after the instant T ran, so the sends at 200 and 400 were
    // still cut.
    for (what, log) in [("a", &a), ("b", &b)] {
        assert_eq!(got_between(log, 0, 100), 10, "{what} before the partition");
        assert_eq!(got_between(log, 103, 200), 0, "{what} during the partition");
        assert_eq!(got_between(log, 200, 300), 9, "{what} after repair");
        assert_eq!(got_between(log, 403, 500), 9, "{what} after the one-way repair");
    }
    assert_eq!(got_between(&b, 303, 400), 0, "a -> b cut one way");
    assert_eq!(got_between(&a, 300, 400), 10, "b -> a still open");
}

#[test]
fn held_messages_wait_and_are_delivered_at_the_release_instant() {
    let mut sim = event_sim(2);
    let (a, b) = udp_pair(&mut sim);
    step_to(&mut sim, 100);
    sim.hold("a", "b");
    step_to(&mut sim, 250);
    assert_eq!(got_between(&b, 103, 250), 0, "nothing delivered while held");
    let mut held = 0;
    sim.links(|links| {
        for l in links {
            held += l.count();
        }
    });
    assert!(held >= 28, "the held datagrams wait on the link: {held}");
    sim.release("a", "b");
    sim.step_until(ms(300)).expect("step");
    assert_eq!(sim.elapsed(), ms(250), "the released messages are the next event");
    assert!(got_between(&b, 250, 251) >= 14 && got_between(&a, 250, 251) >= 14);
    let seqs: Vec<u32> = b.borrow().iter().map(|(_, s)| *s).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "released in send order: {seqs:?}");
}

#[test]
fn crash_drops_every_task_and_bounce_restarts_the_software_with_the_clock_going_on() {
    let mut sim = event_sim(1);
    let ticks = Arc::new(AtomicU64::new(0));
    let boots = Rc::new(RefCell::new(Vec::new()));
    let alive = Arc::new(());
    let (t2, b2, a2) = (ticks.clone(), boots.clone(), alive.clone());
    sim.host("h", move || {
        let (ticks, boots, alive) = (t2.clone(), b2.clone(), a2.clone());
        async move {
            boots.borrow_mut().push(now_ms());
            tokio::task::spawn_local(async move {
                let _hold = alive;
                std::future::pending::<()>().await;
            });
            loop {
                tokio::time::sleep(ms(100)).await;
                ticks.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    step_to(&mut sim, 1_050);
    assert_eq!(ticks.load(Ordering::SeqCst), 10);
    assert_eq!(Arc::strong_count(&alive), 3, "the closure's copy and the task's");
    sim.crash("h");
    assert!(!sim.is_host_running("h"));
    assert_eq!(Arc::strong_count(&alive), 2, "the crash dropped the spawned task");
    let steps = step_to(&mut sim, 5_000);
    assert!(steps <= 2, "a crashed host has no timers: {steps} steps");
    assert_eq!(ticks.load(Ordering::SeqCst), 10);
    sim.bounce("h");
    step_to(&mut sim, 5_550);
    assert_eq!(*boots.borrow(), vec![0, 5_000]);
    assert_eq!(ticks.load(Ordering::SeqCst), 15, "timers run from the restart on");
}

/// Host software that reads the simulated clock while it is torn down (a `Drop`, or a log
/// line's timestamp) sees the crash's instant, in debug and release builds alike: the
/// teardown runs inside the shared runtime, not on the real clock.
#[test]
fn software_torn_down_by_a_crash_reads_the_crash_instant() {
    struct ReadsClockOnDrop(Rc<RefCell<Option<Duration>>>);
    impl Drop for ReadsClockOnDrop {
        fn drop(&mut self) {
            *self.0.borrow_mut() = turmoil::sim_elapsed();
        }
    }
    let mut sim = event_sim(1);
    let seen = Rc::new(RefCell::new(None));
    let s2 = seen.clone();
    sim.host("h", move || {
        let guard = ReadsClockOnDrop(s2.clone());
        async move {
            let _guard = guard;
            std::future::pending::<()>().await;
            Ok(())
        }
    });
    step_to(&mut sim, 1_500);
    sim.crash("h");
    assert_eq!(*seen.borrow(), Some(ms(1_500)));
}

#[test]
fn synced_files_survive_a_crash_and_unsynced_ones_do_not() {
    use turmoil::fs::shim::std::fs;
    let mut sim = event_sim(1);
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s2 = seen.clone();
    sim.host("h", move || {
        let seen = s2.clone();
        async move {
            seen.borrow_mut()
                .push((fs::exists("/d/synced"), fs::exists("/d/unsynced")));
            fs::create_dir_all("/d")?;
            fs::write("/d/synced", b"x")?;
            fs::File::open("/d/synced")?.sync_all()?;
            fs::sync_dir("/d")?;
            fs::sync_dir("/")?;
            fs::write("/d/unsynced", b"y")?;
            std::future::pending::<()>().await;
            Ok(())
        }
    });
    step_to(&mut sim, 10);
    sim.crash("h");
    sim.bounce("h");
    step_to(&mut sim, 20);
    assert_eq!(*seen.borrow(), vec![(false, false), (true, false)]);
}

#[test]
fn same_seed_same_schedule() {
    fn once() -> Vec<(u64, u8)> {
        let mut sim = Builder::new()
            .event_driven()
            .min_message_latency(ms(1))
            .max_message_latency(ms(25))
            .rng_seed(3)
            .build();
        let got = Rc::new(RefCell::new(Vec::new()));
        tcp_recorder(&mut sim, got.clone());
        sim.client("client", async move {
            let mut s = TcpStream::connect(("server", PORT)).await?;
            for i in 0..50u8 {
                s.write_all(&[i]).await?;
                tokio::time::sleep(ms(1)).await;
            }
            tokio::time::sleep(ms(100)).await;
            Ok(())
        });
        sim.run().expect("run");
        let out = got.borrow().clone();
        out
    }
    let a = once();
    assert_eq!(a.len(), 50);
    assert_eq!(a, once());
    assert_eq!(a, std::thread::spawn(once).join().expect("thread"));
}

/// A sender with random latency, timers and a receiver; returns the elapsed time after
/// every step and what the receiver saw, stepping to 300 ms either one `step_until` per
/// step or through `step_until_each` (in slices cut at 40, 41 and 200 ms, as a harness cuts
/// at fault times).
fn stepped_schedule(event: bool, each: bool) -> (Vec<u64>, Vec<(u64, u8)>) {
    let mut b = Builder::new();
    if event {
        b.event_driven();
    }
    let mut sim = b
        .min_message_latency(ms(1))
        .max_message_latency(ms(9))
        .rng_seed(5)
        .build();
    let got = Rc::new(RefCell::new(Vec::new()));
    tcp_recorder(&mut sim, got.clone());
    sim.client("client", async move {
        let mut s = TcpStream::connect(("server", PORT)).await?;
        for i in 0..40u8 {
            s.write_all(&[i]).await?;
            tokio::time::sleep(ms(u64::from(i % 4) * 3)).await;
        }
        tokio::time::sleep(ms(1000)).await;
        Ok(())
    });
    let mut after_step = Vec::new();
    for until in [40u64, 41, 200, 300] {
        if each {
            let broke = sim
                .step_until_each(ms(until), |e| {
                    after_step.push(e.as_millis() as u64);
                    std::ops::ControlFlow::Continue(())
                })
                .expect("steps");
            assert!(!broke);
        } else {
            while sim.elapsed() < ms(until) {
                sim.step_until(ms(until)).expect("step");
                after_step.push(sim.elapsed().as_millis() as u64);
            }
        }
        assert_eq!(sim.elapsed(), ms(until), "a slice ends exactly at its limit");
    }
    let got = got.borrow().clone();
    (after_step, got)
}

#[test]
fn step_until_each_takes_the_same_steps_as_step_until_in_a_loop() {
    for event in [true, false] {
        let one_by_one = stepped_schedule(event, false);
        assert_eq!(one_by_one.1.len(), 40, "every byte arrived (event {event})");
        assert_eq!(one_by_one, stepped_schedule(event, true), "event {event}");
    }
    // Event mode only steps where something happens: far fewer steps than 1 ms ticks.
    assert!(stepped_schedule(true, true).0.len() < 150);
    assert_eq!(stepped_schedule(false, true).0.len(), 300);
}

#[test]
fn step_until_each_stops_at_the_step_its_closure_breaks() {
    let mut sim = event_sim(1);
    sim.client("c", async move {
        for _ in 0..10 {
            tokio::time::sleep(ms(5)).await;
        }
        Ok(())
    });
    let mut seen = Vec::new();
    let broke = sim
        .step_until_each(ms(1000), |e| {
            seen.push(e.as_millis() as u64);
            if e >= ms(20) {
                std::ops::ControlFlow::Break(())
            } else {
                std::ops::ControlFlow::Continue(())
            }
        })
        .expect("steps");
    assert!(broke);
    assert_eq!(sim.elapsed(), ms(20));
    assert_eq!(seen.last(), Some(&20));
    // Stepping goes on from there.
    let broke = sim
        .step_until_each(ms(30), |_| std::ops::ControlFlow::Continue(()))
        .expect("steps");
    assert!(!broke);
    assert_eq!(sim.elapsed(), ms(30));
}
