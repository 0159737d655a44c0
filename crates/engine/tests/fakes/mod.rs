//! In-memory fakes of both services, with injected faults, for the engine's tests.
//!
//! Each fake keeps its items, a change log (the feed: snapshots in commit order) and a write
//! counter. Faults come from a seeded generator shared by both fakes, so a run is a pure
//! function of its seed: 429, 5xx, a timeout after the write was applied, a crash (panic)
//! before or after a write, an expired cursor (410), and duplicated/reordered feed entries.

#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

use chrono::{DateTime, TimeZone, Utc};
use crmsync_core::contact::ContactRecord;
use crmsync_core::planner::{Observation, Observed};
use crmsync_core::policy::Exclusion;
use crmsync_engine::{Changes, Clock, ContainerPort, PortError, RecordPort, Written};

pub const CRASH: &str = "simulated crash";

pub fn t(tick: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + tick, 0).unwrap()
}

/// A small deterministic generator (xorshift64*).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// What both fakes share: the server clock and the fault generator.
pub struct World {
    pub tick: Cell<i64>,
    pub rng: RefCell<Rng>,
    /// Percent of calls that fail (0 = no faults).
    pub fault_rate: Cell<u64>,
    /// Whether crashes (panics) are among the faults.
    pub crashes: Cell<bool>,
}

impl World {
    pub fn new(seed: u64) -> Rc<Self> {
        Rc::new(Self {
            tick: Cell::new(0),
            rng: RefCell::new(Rng::new(seed)),
            fault_rate: Cell::new(0),
            crashes: Cell::new(true),
        })
    }
    pub fn tick(&self) -> i64 {
        self.tick.set(self.tick.get() + 1);
        self.tick.get()
    }
    fn roll(&self) -> Option<u64> {
        let rate = self.fault_rate.get();
        if rate == 0 {
            return None;
        }
        let mut rng = self.rng.borrow_mut();
        (rng.below(100) < rate).then(|| rng.below(100))
    }
}

pub struct WorldClock(pub Rc<World>);

impl Clock for WorldClock {
    fn now(&self) -> DateTime<Utc> {
        t(self.0.tick.get())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub record: ContactRecord,
    pub version: u64,
    pub modified: i64,
    pub stamp: Option<String>,
    pub excluded: bool,
}

enum ReadFault {
    None,
    Fail(PortError),
    Crash,
}

enum WriteFault {
    None,
    Before(PortError),
    TimeoutAfter,
    CrashBefore,
    CrashAfter,
}

pub struct Fake {
    pub prefix: &'static str,
    pub world: Rc<World>,
    pub items: BTreeMap<String, Item>,
    /// The feed: snapshots in commit order.
    pub log: Vec<Observation<ContactRecord>>,
    pub next: u64,
    /// Writes made through the port (not the user's).
    pub writes: usize,
    /// Graph only: the container.
    pub container: Option<String>,
    pub containers_created: u64,
    pub selected: Option<String>,
    /// The next `changes_since` answers 410.
    pub expire_next: bool,
    /// A user edit that lands just before the next write through the port (a race).
    pub race_next_write: Option<(String, ContactRecord)>,
    /// Crash (panic) right after the next write landed.
    pub crash_after_next_write: bool,
    /// The next read fails with this error.
    pub fail_next_read: Option<PortError>,
    /// Ids a complete listing reports as beyond the first-sync cap (a feed reports them
    /// without the exclusion, as the CRM adapter does when it re-reads a record).
    pub capped: std::collections::BTreeSet<String>,
    /// Ids the next feed reads again, unchanged (Zoho's watermark second re-read).
    pub reread_next: Vec<String>,
    /// Reads made through the port (feeds, listings, GETs, container checks), counted.
    pub reads: usize,
    /// Graph only: `container_exists` calls.
    pub container_checks: usize,
}

impl Fake {
    pub fn new(prefix: &'static str, world: Rc<World>) -> Self {
        Self {
            prefix,
            world,
            items: BTreeMap::new(),
            log: Vec::new(),
            next: 0,
            writes: 0,
            container: None,
            containers_created: 0,
            selected: None,
            expire_next: false,
            race_next_write: None,
            crash_after_next_write: false,
            fail_next_read: None,
            capped: std::collections::BTreeSet::new(),
            reread_next: Vec::new(),
            reads: 0,
            container_checks: 0,
        }
    }

    /// Graph only: the selected container no longer exists, so its feed answers 404 (as
    /// Graph's delta of a deleted folder, calendar or list does).
    fn container_gone(&self) -> bool {
        self.selected.is_some() && self.selected != self.container
    }

    fn observed(&self, id: &str, it: &Item) -> Observed<ContactRecord> {
        Observed {
            id: id.to_owned(),
            version: it.version.to_string(),
            modified: t(it.modified),
            record: it.record.clone(),
            stamp: it.stamp.clone(),
            exclusion: it.excluded.then_some(Exclusion::NotOwner),
        }
    }

    fn log_present(&mut self, id: &str) {
        let o = self.observed(id, &self.items[id]);
        self.log.push(Observation::Present(o));
    }

    /// A user (not the sync) creates a record.
    pub fn user_create(&mut self, record: ContactRecord, excluded: bool) -> String {
        self.next += 1;
        let id = format!("{}{}", self.prefix, self.next);
        let modified = self.world.tick();
        self.items.insert(
            id.clone(),
            Item {
                record,
                version: 1,
                modified,
                stamp: None,
                excluded,
            },
        );
        self.log_present(&id);
        id
    }

    /// A user edits a record.
    pub fn user_update(&mut self, id: &str, record: ContactRecord) {
        let tick = self.world.tick();
        let it = self.items.get_mut(id).expect("user edit of a missing item");
        it.record = record;
        it.version += 1;
        it.modified = tick;
        self.log_present(id);
    }

    /// A user deletes a record.
    pub fn user_delete(&mut self, id: &str) {
        self.world.tick();
        self.items.remove(id);
        self.log.push(Observation::Deleted { id: id.to_owned() });
    }

    /// Items, without ids: for comparing runs whose ids differ.
    pub fn contents(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .items
            .values()
            .map(|it| serde_json::to_string(&it.record).unwrap())
            .collect();
        v.sort();
        v
    }

    fn read_fault(&self) -> ReadFault {
        match self.world.roll() {
            None => ReadFault::None,
            Some(k) if k < 35 => ReadFault::Fail(PortError::Throttled {
                retry_after_secs: Some(1),
            }),
            Some(k) if k < 70 => ReadFault::Fail(PortError::Unavailable("503".into())),
            Some(k) if k < 85 => ReadFault::Fail(PortError::Timeout),
            Some(_) if self.world.crashes.get() => ReadFault::Crash,
            Some(_) => ReadFault::Fail(PortError::Timeout),
        }
    }

    fn write_fault(&self) -> WriteFault {
        match self.world.roll() {
            None => WriteFault::None,
            Some(k) if k < 25 => WriteFault::Before(PortError::Throttled {
                retry_after_secs: Some(1),
            }),
            Some(k) if k < 45 => WriteFault::Before(PortError::Unavailable("500".into())),
            Some(k) if k < 70 => WriteFault::TimeoutAfter,
            Some(k) if k < 85 && self.world.crashes.get() => WriteFault::CrashBefore,
            Some(_) if self.world.crashes.get() => WriteFault::CrashAfter,
            Some(_) => WriteFault::TimeoutAfter,
        }
    }

    fn read<T>(&mut self, f: impl FnOnce(&Self) -> T) -> Result<T, PortError> {
        self.reads += 1;
        if let Some(e) = self.fail_next_read.take() {
            return Err(e);
        }
        match self.read_fault() {
            ReadFault::None => Ok(f(self)),
            ReadFault::Fail(e) => Err(e),
            ReadFault::Crash => panic!("{CRASH}"),
        }
    }

    fn write<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, PortError>,
    ) -> Result<T, PortError> {
        if let Some((id, record)) = self.race_next_write.take() {
            self.user_update(&id, record);
        }
        if std::mem::take(&mut self.crash_after_next_write) {
            if f(self).is_ok() {
                self.writes += 1;
            }
            panic!("{CRASH}");
        }
        match self.write_fault() {
            WriteFault::None => {
                let r = f(self);
                if r.is_ok() {
                    self.writes += 1;
                }
                r
            }
            WriteFault::Before(e) => Err(e),
            WriteFault::CrashBefore => panic!("{CRASH}"),
            WriteFault::TimeoutAfter => {
                if f(self).is_ok() {
                    self.writes += 1;
                }
                Err(PortError::Timeout)
            }
            WriteFault::CrashAfter => {
                if f(self).is_ok() {
                    self.writes += 1;
                }
                panic!("{CRASH}")
            }
        }
    }

    fn check_version(it: &Item, expected: Option<&str>) -> Result<(), PortError> {
        match expected {
            Some(v) if v != it.version.to_string() => Err(PortError::PreconditionFailed),
            _ => Ok(()),
        }
    }
}

impl RecordPort<ContactRecord> for Fake {
    fn list_all(&mut self) -> Result<Changes<ContactRecord>, PortError> {
        if self.container_gone() {
            return Err(PortError::NotFound);
        }
        self.read(|s| Changes {
            observations: s
                .items
                .iter()
                .map(|(id, it)| {
                    let mut o = s.observed(id, it);
                    if s.capped.contains(id) && o.exclusion.is_none() {
                        o.exclusion = Some(Exclusion::BeyondFirstSyncCap);
                    }
                    Observation::Present(o)
                })
                .collect(),
            cursor: s.log.len().to_string(),
        })
    }

    fn changes_since(&mut self, cursor: &str) -> Result<Changes<ContactRecord>, PortError> {
        if self.container_gone() {
            return Err(PortError::NotFound);
        }
        if std::mem::take(&mut self.expire_next) {
            return Err(PortError::CursorExpired);
        }
        let from: usize = cursor.parse().map_err(|_| PortError::CursorExpired)?;
        let mut observations: Vec<_> = self.read(|s| s.log[from.min(s.log.len())..].to_vec())?;
        for id in std::mem::take(&mut self.reread_next) {
            if let Some(it) = self.items.get(&id) {
                observations.push(Observation::Present(self.observed(&id, it)));
            }
        }
        // Faults of the feed itself: a 410, or duplicated and reordered entries.
        if let Some(k) = self.world.roll() {
            if k < 30 {
                return Err(PortError::CursorExpired);
            }
            let mut rng = self.world.rng.borrow_mut();
            let n = observations.len();
            if n > 0 {
                for _ in 0..=rng.below(3) {
                    let i = rng.below(n as u64) as usize;
                    observations.push(observations[i].clone());
                }
                for i in (1..observations.len()).rev() {
                    let j = rng.below(i as u64 + 1) as usize;
                    observations.swap(i, j);
                }
            }
        }
        Ok(Changes {
            observations,
            cursor: self.log.len().to_string(),
        })
    }

    fn get(&mut self, id: &str) -> Result<Option<Observed<ContactRecord>>, PortError> {
        self.read(|s| s.items.get(id).map(|it| s.observed(id, it)))
    }

    fn find_by_stamp(&mut self, stamp: &str) -> Result<Option<Observed<ContactRecord>>, PortError> {
        self.read(|s| {
            s.items
                .iter()
                .find(|(_, it)| it.stamp.as_deref() == Some(stamp))
                .map(|(id, it)| s.observed(id, it))
        })
    }

    fn create(
        &mut self,
        record: &ContactRecord,
        stamp: Option<&str>,
    ) -> Result<Written, PortError> {
        self.write(|s| {
            s.next += 1;
            let id = format!("{}{}", s.prefix, s.next);
            let modified = s.world.tick();
            s.items.insert(
                id.clone(),
                Item {
                    record: record.clone(),
                    version: 1,
                    modified,
                    stamp: stamp.map(str::to_owned),
                    excluded: false,
                },
            );
            s.log_present(&id);
            Ok(Written {
                id,
                version: "1".into(),
                modified: t(modified),
            })
        })
    }

    fn update(
        &mut self,
        id: &str,
        record: &ContactRecord,
        expected_version: Option<&str>,
    ) -> Result<Written, PortError> {
        self.write(|s| {
            let tick = s.world.tick();
            let it = s.items.get_mut(id).ok_or(PortError::NotFound)?;
            Self::check_version(it, expected_version)?;
            it.record = record.clone();
            it.version += 1;
            it.modified = tick;
            let version = it.version.to_string();
            s.log_present(id);
            Ok(Written {
                id: id.to_owned(),
                version,
                modified: t(tick),
            })
        })
    }

    fn delete(&mut self, id: &str, expected_version: Option<&str>) -> Result<(), PortError> {
        self.write(|s| {
            let it = s.items.get(id).ok_or(PortError::NotFound)?;
            Self::check_version(it, expected_version)?;
            s.world.tick();
            s.items.remove(id);
            s.log.push(Observation::Deleted { id: id.to_owned() });
            Ok(())
        })
    }
}

impl ContainerPort for Fake {
    fn find_container(&mut self) -> Result<Option<String>, PortError> {
        self.read(|s| s.container.clone())
    }

    fn create_container(&mut self) -> Result<String, PortError> {
        self.write(|s| {
            s.containers_created += 1;
            let id = format!("folder{}", s.containers_created);
            s.container = Some(id.clone());
            s.items.clear();
            s.log.clear();
            Ok(id)
        })
    }

    fn container_exists(&mut self, id: &str) -> Result<bool, PortError> {
        self.container_checks += 1;
        self.read(|s| s.container.as_deref() == Some(id))
    }

    fn delete_container(&mut self, id: &str) -> Result<(), PortError> {
        self.write(|s| {
            if s.container.as_deref() != Some(id) {
                return Err(PortError::NotFound);
            }
            s.container = None;
            s.items.clear();
            s.log.clear();
            Ok(())
        })
    }

    fn select_container(&mut self, id: &str) {
        self.selected = Some(id.to_owned());
    }
}
