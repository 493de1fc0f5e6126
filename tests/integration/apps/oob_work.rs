//! Out-of-band work: a process out of rotation while its `:oob_work` handlers run.

use std::collections::BTreeSet;
use std::time::Instant;

use crate::support::apps::{get_json, pid_of, require_rack, two_ruby_processes};
use crate::support::{deadline, get, wait_until};

fn oob_work(spawn_method: &str) {
    require_rack();
    let (_dir, _root, server) = two_ruby_processes("rack_oob", spawn_method);

    let resp = get(server.addr, "/oob");
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert!(
        resp.header("x-passenger-request-oob-work").is_none(),
        "the core strips the OOB header: {:?}",
        resp.headers
    );
    let oob_pid = pid_of(&resp.json());
    let started = format!("OOBW_START {oob_pid}");
    let ended = format!("OOBW_END {oob_pid}");
    wait_until("the app runs its :oob_work handler", deadline(), || {
        server.log().contains(&started)
    });

    // The handler takes 3 s; meanwhile every request goes to the other process.
    let mut served_meanwhile = BTreeSet::new();
    while !server.log().contains(&ended) {
        let pid = pid_of(&get_json(&server, "/"));
        if server.log().contains(&ended) {
            break; // The answer may have raced the end of the OOB work.
        }
        assert_ne!(
            pid, oob_pid,
            "a request was routed to a process doing OOB work"
        );
        served_meanwhile.insert(pid);
    }
    assert_eq!(
        served_meanwhile.len(),
        1,
        "the other process served during OOB work"
    );

    // Back in rotation afterwards: two concurrent requests use both processes.
    let addr = server.addr;
    let mut seen = BTreeSet::new();
    let limit = Instant::now() + deadline() * 2;
    while !seen.contains(&oob_pid) && Instant::now() < limit {
        let handles: Vec<_> = (0..2)
            .map(|_| std::thread::spawn(move || get(addr, "/sleep")))
            .collect();
        for h in handles {
            let v = h.join().expect("request thread").json();
            let pid = pid_of(&v);
            if pid == oob_pid {
                assert_eq!(v["oob_runs"], 1, "the app saw one :oob_work event");
            }
            seen.insert(pid);
        }
    }
    assert!(
        seen.contains(&oob_pid),
        "the process that did OOB work serves again"
    );
}

#[test]
fn oob_work_direct() {
    oob_work("direct");
}

#[test]
fn oob_work_smart() {
    oob_work("smart");
}
