//! Network namespaces for the fault tests: `n` namespaces with one address each (10.77.0.1,
//! .2, ...), joined by veth pairs to a bridge in a hub namespace (10.77.0.254) where the tests'
//! clients run. A link between two namespaces is cut with a permanent neighbour entry on both
//! ends pointing at an unused MAC address: the bridge floods such frames and every receiver drops
//! them, so packets vanish silently (as on a cut cable) while the hub still reaches both sides.
//! `iptables`, `nft` and `tc` qdiscs are not needed (the CI kernel has none of them).
//!
//! Everything is made by the test, named after its PID and a tag, and deleted when the [`Net`] is
//! dropped, even on failure. [`Net::create`] answers why it cannot (not root, no `ip`, no
//! namespaces), so the test can print one skip line.

#![allow(dead_code)]

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The MAC address a cut link's neighbour entries point at: nobody has it.
const NOWHERE: &str = "02:00:00:00:00:01";
/// `CLONE_NEWNET` of `<sched.h>`.
const CLONE_NEWNET: i32 = 0x4000_0000;

extern "C" {
    fn setns(fd: i32, nstype: i32) -> i32;
}

/// Namespaces made by one test, deleted on drop.
pub struct Net {
    hub: String,
    names: Vec<String>,
    made: Vec<String>,
}

impl Net {
    /// Makes the hub and `n` namespaces (at most 200) named `rkv<pid><tag><sequence>n...`.
    ///
    /// # Errors
    /// Why namespaces cannot be made here (not root, no `ip`, a command refused).
    pub fn create(tag: &str, n: usize) -> Result<Net, String> {
        assert!(n <= 200);
        if !is_root() {
            return Err("not running as root".into());
        }
        if Command::new("ip").arg("-V").output().is_err() {
            return Err("no `ip` command".into());
        }
        static MADE: AtomicUsize = AtomicUsize::new(0);
        let seq = MADE.fetch_add(1, Ordering::Relaxed);
        let prefix = format!("rkv{}{tag}{seq}n", std::process::id());
        let mut net = Net {
            hub: format!("{prefix}h"),
            names: (0..n).map(|i| format!("{prefix}{i}")).collect(),
            made: Vec::new(),
        };
        let hub = net.hub.clone();
        net.add(&hub)?;
        for args in [
            "link add br0 type bridge",
            "link set br0 up",
            "link set lo up",
            "addr add 10.77.0.254/24 dev br0",
        ] {
            ip_in(&hub, args)?;
        }
        for i in 0..n {
            let name = net.names[i].clone();
            net.add(&name)?;
            ip_in(
                &hub,
                &format!("link add v{i} type veth peer name eth0 netns {name}"),
            )?;
            ip_in(&hub, &format!("link set v{i} master br0"))?;
            ip_in(&hub, &format!("link set v{i} up"))?;
            ip_in(&name, &format!("addr add {}/24 dev eth0", host(i)))?;
            ip_in(&name, "link set eth0 up")?;
            ip_in(&name, "link set lo up")?;
        }
        Ok(net)
    }

    fn add(&mut self, name: &str) -> Result<(), String> {
        ip(&["netns", "add", name])?;
        self.made.push(name.to_owned());
        Ok(())
    }

    /// The address of namespace `i`.
    pub fn host(&self, i: usize) -> String {
        host(i)
    }

    /// The command prefix that runs a program in namespace `i`.
    pub fn wrap(&self, i: usize) -> Vec<String> {
        ["ip", "netns", "exec", &self.names[i]]
            .map(String::from)
            .to_vec()
    }

    /// Cuts namespace `i` off from every other namespace (the hub still reaches it).
    pub fn cut(&self, i: usize) {
        self.each_link(i, |peer| {
            format!("neigh replace {peer} lladdr {NOWHERE} dev eth0 nud permanent")
        });
    }

    /// Undoes [`Net::cut`].
    pub fn heal(&self, i: usize) {
        self.each_link(i, |peer| format!("neigh del {peer} dev eth0"));
    }

    /// Runs `ip` with `command(peer)` at both ends of every link of `i`.
    fn each_link(&self, i: usize, command: impl Fn(&str) -> String) {
        for j in (0..self.names.len()).filter(|&j| j != i) {
            for (from, to) in [(i, j), (j, i)] {
                ip_in(&self.names[from], &command(&host(to))).expect("a neighbour entry changes");
            }
        }
    }

    /// Runs `f` on a new thread inside the hub namespace (its sockets live there), and answers
    /// what it returns.
    pub fn in_hub<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        self.spawn_in_hub(f)
            .join()
            .expect("the thread in the hub namespace finishes")
    }

    /// Starts `f` on a thread inside the hub namespace; join it for its answer.
    pub fn spawn_in_hub<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let path = format!("/var/run/netns/{}", self.hub);
        std::thread::spawn(move || {
            let file = File::open(&path).expect("the hub namespace exists");
            // SAFETY: setns on this thread only, with a valid descriptor of a network namespace.
            let rc = unsafe { setns(file.as_raw_fd(), CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns into {path}");
            f()
        })
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for name in self.made.iter().rev() {
            let _ = ip(&["netns", "del", name]);
        }
    }
}

fn host(i: usize) -> String {
    format!("10.77.0.{}", i + 1)
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

fn ip_in(ns: &str, args: &str) -> Result<(), String> {
    let mut all = vec!["-n", ns];
    all.extend(args.split_whitespace());
    ip(&all)
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}`: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
