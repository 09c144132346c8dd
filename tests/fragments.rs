//! Issue 13 c: fragmented delivery and byte-exact cuts. Real TCP delivers a stream at any
//! boundary and breaks a connection at any byte; the node runtime, the RESP and RDB
//! decoders and the replica core must give the same result whatever the boundaries, and a
//! link cut in the middle of a header, a bulk, a MULTI…EXEC block, an RDB or a `$EOF:`
//! mark must never apply a partial frame.
//!
//! First the mechanism itself (a fragmenting link delivers exactly the bytes written, at
//! more boundaries than writes; a cut delivers exactly the prefix before it and nothing
//! after), then the sim: named scenarios and swarm seeds with both families forced on.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use sim::net::{Cut, Fragmentation, Net, ShapedWrite};
use sim::run::{run, RunReport};
use sim::scenarios::{by_name, swarm_fragmented};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the receiving host saw: every read's bytes, in order.
type Reads = Rc<RefCell<Vec<Vec<u8>>>>;

/// `writes` go from host `b` to host `a` over a [`ShapedWrite`] on `net` (armed by
/// `arm`); returns what `a` read (one entry per read, until end of stream) and, per
/// write, whether it succeeded.
fn transfer(net: Net, arm: impl FnOnce(&Net), writes: Vec<Vec<u8>>) -> (Vec<Vec<u8>>, Vec<bool>) {
    let mut sim = turmoil::Builder::new()
        .simulation_duration(Duration::from_secs(60))
        .rng_seed(7)
        .build();
    let net = Rc::new(net);
    arm(&net);
    let reads: Reads = Rc::default();
    let oks = Rc::new(RefCell::new(Vec::new()));
    let r2 = reads.clone();
    sim.host("a", move || {
        let reads = r2.clone();
        async move {
            let l = turmoil::net::TcpListener::bind(("0.0.0.0", 6379)).await?;
            let (mut s, _) = l.accept().await?;
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = s.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                reads.borrow_mut().push(buf[..n].to_vec());
            }
            // Keep the host alive until the client is done.
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok(())
        }
    });
    let o2 = oks.clone();
    sim.client("b", async move {
        let s = turmoil::net::TcpStream::connect(("a", 6379)).await?;
        let (_r, w) = s.into_split();
        let mut w = ShapedWrite::new(w, "b".into(), "a".into(), net);
        for data in writes {
            let ok = w.write_all(&data).await.is_ok();
            o2.borrow_mut().push(ok);
        }
        let _ = w.shutdown().await;
        drop(w);
        tokio::time::sleep(Duration::from_millis(500)).await;
        Ok(())
    });
    sim.run().expect("simulation");
    let reads = reads.borrow().clone();
    let oks = oks.borrow().clone();
    (reads, oks)
}

fn fragmenting(seed: u64) -> Net {
    Net::with_rate(0).fragmenting(
        Some(Fragmentation { conns_per_mille: 1000 }),
        seed,
        vec!["a".into(), "b".into()],
    )
}

/// A diskless transfer as the master frames it (R32), then a command stream with a
/// MULTI…EXEC block.
fn replication_like_writes() -> Vec<Vec<u8>> {
    let mark = b"0123456789abcdef0123456789abcdef01234567";
    let mut rdb = format!("$EOF:{}\r\n", std::str::from_utf8(mark).expect("ascii")).into_bytes();
    rdb.extend((0..3000u32).map(|i| (i * 7 % 251) as u8));
    rdb.extend_from_slice(mark);
    vec![
        b"+FULLRESYNC 8de1787ba490483314a4d30f1c628bc5025eb761 0\r\n".to_vec(),
        rdb,
        b"*1\r\n$5\r\nMULTI\r\n*2\r\n$3\r\nDEL\r\n$2\r\nk1\r\n*2\r\n$4\r\nINCR\r\n$2\r\nk1\r\n*1\r\n$4\r\nEXEC\r\n"
            .to_vec(),
    ]
}

/// `got == want`, reported by lengths and the first differing index (not two dumps).
fn same_bytes(got: &[u8], want: &[u8], ctx: &str) {
    let first = got.iter().zip(want).position(|(a, b)| a != b);
    assert!(
        got == want,
        "{ctx}: got {} bytes, want {}; first difference at {first:?}",
        got.len(),
        want.len()
    );
}

#[test]
fn fragmenting_link_delivers_the_same_bytes_at_more_boundaries() {
    let (mut reads_total, mut writes_total, mut single_bytes) = (0, 0, 0);
    for seed in 0..8 {
        let writes = replication_like_writes();
        let net = fragmenting(seed);
        let (reads, oks) = transfer(net, |_| {}, writes.clone());
        assert!(
            oks.iter().all(|ok| *ok),
            "seed {seed}: a write failed on a healthy link"
        );
        same_bytes(&reads.concat(), &writes.concat(), &format!("seed {seed}"));
        reads_total += reads.len();
        writes_total += writes.len();
        single_bytes += reads.iter().filter(|r| r.len() == 1).count();
    }
    assert!(
        reads_total > 3 * writes_total,
        "{reads_total} reads for {writes_total} writes: hardly fragmented"
    );
    assert!(single_bytes > 0, "no single-byte delivery in 8 seeds");
}

#[test]
fn fragmentation_is_drawn_from_the_seed() {
    let boundaries = |seed| {
        let (reads, _) = transfer(fragmenting(seed), |_| {}, replication_like_writes());
        reads.iter().map(Vec::len).collect::<Vec<_>>()
    };
    assert_eq!(boundaries(3), boundaries(3), "same seed, different boundaries");
    assert_ne!(boundaries(3), boundaries(4), "the seed does not choose the boundaries");
}

#[test]
fn cut_delivers_exactly_the_prefix_and_nothing_after() {
    let writes = replication_like_writes();
    let all = writes.concat();
    // Inside `+FULLRESYNC`, inside the opening mark, inside the RDB, inside the closing
    // mark, inside the MULTI…EXEC block, and a cut before the first byte.
    for after in [0u64, 5, 70, 90, 1500, 3120, 3140, all.len() as u64 - 30] {
        for net in [Net::with_rate(0), fragmenting(after)] {
            let cut = Cut::After { after };
            let (reads, oks) = transfer(net, |n| n.cut("b", "a", cut), writes.clone());
            let got = reads.concat();
            same_bytes(&got, &all[..after as usize], &format!("cut after {after}"));
            assert!(
                oks.contains(&false),
                "cut after {after}: the writer never saw the break"
            );
            assert!(
                oks.iter().skip_while(|ok| **ok).all(|ok| !ok),
                "cut after {after}: a write succeeded after the cut: {oks:?}"
            );
        }
    }
}

#[test]
fn cut_before_end_lands_in_the_closing_mark() {
    let writes = replication_like_writes();
    let before: usize = writes[0].len();
    for before_end in [1u64, 20, 39] {
        let cut = Cut::BeforeEnd {
            min_len: 256,
            before_end,
        };
        let (reads, oks) = transfer(fragmenting(before_end), |n| n.cut("b", "a", cut), writes.clone());
        let got = reads.concat();
        let want = before + writes[1].len() - before_end as usize;
        same_bytes(&got, &writes.concat()[..want], &format!("before_end {before_end}"));
        assert_eq!(oks, vec![true, false, false], "before_end {before_end}");
    }
}

fn check(name: &str, r: &RunReport) {
    assert!(
        r.violations.is_empty(),
        "{name} seed {}: {:?}\n  reproduce: psync-sim replay --seed {} --scenario {name}",
        r.seed,
        r.violations,
        r.seed
    );
}

#[test]
fn replication_survives_fragmented_links() {
    for seed in 0..6 {
        let r = run(&by_name("fragmented-links", seed).expect("scenario"));
        check("fragmented-links", &r);
        assert!(r.coverage.fragmented_writes > 100, "seed {seed}: {:?}", r.coverage);
    }
}

#[test]
fn links_cut_inside_transfers_and_marks_recover_without_violations() {
    for seed in 0..20 {
        let r = run(&by_name("cut-link-transfer", seed).expect("scenario"));
        check("cut-link-transfer", &r);
        assert_eq!(r.coverage.cuts, 1, "seed {seed}: the cut did not happen");
        assert!(
            r.coverage.link_errors + r.coverage.transfer_failures > 0,
            "seed {seed}: the replica did not notice the cut"
        );
    }
}

#[test]
fn links_cut_inside_the_stream_continue_without_violations() {
    for seed in 0..10 {
        let r = run(&by_name("cut-link-stream", seed).expect("scenario"));
        check("cut-link-stream", &r);
        assert_eq!(r.coverage.cuts, 4, "seed {seed}: not every cut happened");
    }
}

#[test]
fn swarm_with_fragments_and_cuts_forced_on_has_no_violations() {
    // PSYNC_FRAGMENT_SEEDS=N for a bigger local campaign.
    let n: u64 = std::env::var("PSYNC_FRAGMENT_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    let (mut fragmented, mut cuts, mut bad) = (0, 0, Vec::new());
    for seed in 0..n {
        let r = run(&swarm_fragmented(seed));
        if !r.violations.is_empty() {
            let first = &r.violations[0];
            bad.push(format!(
                "seed {seed}: {} violations, first {first:?}\n  reproduce: psync-sim replay --seed {seed} --scenario swarm-fragmented",
                r.violations.len()
            ));
        }
        fragmented += r.coverage.fragmented_writes;
        cuts += r.coverage.cuts;
    }
    assert!(
        bad.is_empty(),
        "{} of {n} seeds violated oracles (fragments and cuts forced on):\n{}",
        bad.len(),
        bad.join("\n")
    );
    assert!(fragmented > 1000, "only {fragmented} fragmented writes");
    assert!(cuts >= n / 3, "only {cuts} cuts in {n} seeds");
}
