//! The Nexmark event model: one numbered stream of events, each a person, an auction or a bid,
//! every field a pure function of `(seed, event number)`.
//!
//! ```text
//!  event n:   n % 50 == 0 ─► person   (1 in 50)
//!             n % 50 in 1..=3 ─► auction (3 in 50)
//!             otherwise ─► bid        (46 in 50)
//! ```
//!
//! The proportions, the id spaces (persons and auctions numbered from 1000, categories from 10),
//! the "hot" sellers, bidders and auctions that draw most of the activity, the auctions in flight,
//! prices spread over six decades and the `extra` padding to an average row size are those of the
//! Nexmark benchmark's generator, so the queries of the suite see the data shapes they were
//! written for. Since any event can be made on its own, a range of events can be split over
//! partitions, replayed after a crash, or read as a batch, and always gives the same rows.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Builder, StringBuilder, TimestampNanosecondBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Events per cycle of the person/auction/bid proportions (1 + 3 + 46).
pub(crate) const CYCLE: u64 = 50;
/// The first person id (ids before it belong to no one).
pub(crate) const FIRST_PERSON_ID: i64 = 1000;
/// The first auction id.
pub(crate) const FIRST_AUCTION_ID: i64 = 1000;
/// The first category id; categories are `FIRST_CATEGORY_ID .. FIRST_CATEGORY_ID + 5`.
pub(crate) const FIRST_CATEGORY_ID: i64 = 10;
const NUM_CATEGORIES: u64 = 5;
/// People who may still sell or bid: the most recent ones.
const ACTIVE_PEOPLE: u64 = 1000;
/// Auctions still open that bids go to: the most recent ones.
const IN_FLIGHT_AUCTIONS: u64 = 100;
/// Hot ids are multiples of this, so a few ids draw many events.
const HOT_ID_STRIDE: u64 = 100;
/// One bid in `HOT_AUCTION_ODDS` goes to a random auction, the others to a hot one.
const HOT_AUCTION_ODDS: u64 = 2;
/// One bid (auction) in this many comes from a random bidder (seller); the rest from hot ones.
const HOT_BIDDER_ODDS: u64 = 4;
const HOT_SELLER_ODDS: u64 = 4;
/// One bid in this many comes through one of the four hot channels.
const HOT_CHANNEL_ODDS: u64 = 2;
/// Distinct other channels.
const CHANNELS: u64 = 10_000;
/// Average sizes in bytes the `extra` column pads each kind of row to.
const PERSON_BYTES: usize = 200;
const AUCTION_BYTES: usize = 500;
const BID_BYTES: usize = 100;

/// The three tables of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    /// New people registering.
    Person,
    /// New auctions opening.
    Auction,
    /// Bids on open auctions.
    Bid,
}

impl Table {
    /// The table named `name` (`person`, `auction`, `bid`).
    pub fn parse(name: &str) -> Option<Table> {
        match name.to_ascii_lowercase().as_str() {
            "person" => Some(Table::Person),
            "auction" => Some(Table::Auction),
            "bid" => Some(Table::Bid),
            _ => None,
        }
    }

    /// The table's name.
    pub fn name(self) -> &'static str {
        match self {
            Table::Person => "person",
            Table::Auction => "auction",
            Table::Bid => "bid",
        }
    }

    /// The event numbers (mod [`CYCLE`]) of this kind: `first .. first + per_cycle`.
    fn slots(self) -> (u64, u64) {
        match self {
            Table::Person => (0, 1),
            Table::Auction => (1, 3),
            Table::Bid => (4, 46),
        }
    }

    /// The table's columns (those of the Nexmark suite's tables, in snake case).
    pub fn schema(self) -> SchemaRef {
        let ts = || DataType::Timestamp(TimeUnit::Nanosecond, None);
        let f = |name: &str, t: DataType| Field::new(name, t, false);
        Arc::new(Schema::new(match self {
            Table::Person => vec![
                f("id", DataType::Int64),
                f("name", DataType::Utf8),
                f("email_address", DataType::Utf8),
                f("credit_card", DataType::Utf8),
                f("city", DataType::Utf8),
                f("state", DataType::Utf8),
                f("date_time", ts()),
                f("extra", DataType::Utf8),
            ],
            Table::Auction => vec![
                f("id", DataType::Int64),
                f("item_name", DataType::Utf8),
                f("description", DataType::Utf8),
                f("initial_bid", DataType::Int64),
                f("reserve", DataType::Int64),
                f("date_time", ts()),
                f("expires", ts()),
                f("seller", DataType::Int64),
                f("category", DataType::Int64),
                f("extra", DataType::Utf8),
            ],
            Table::Bid => vec![
                f("auction", DataType::Int64),
                f("bidder", DataType::Int64),
                f("price", DataType::Int64),
                f("channel", DataType::Utf8),
                f("url", DataType::Utf8),
                f("date_time", ts()),
                f("extra", DataType::Utf8),
            ],
        }))
    }

    /// How many events of this kind are among the events `0 .. n`.
    pub fn count_below(self, n: u64) -> u64 {
        let (first, per) = self.slots();
        (n / CYCLE) * per + (n % CYCLE).saturating_sub(first).min(per)
    }

    /// How many events of this kind are among the events `from .. to`.
    pub fn count_between(self, from: u64, to: u64) -> u64 {
        self.count_below(to) - self.count_below(from.min(to))
    }

    /// The event number of this kind's `i`-th event (counting from 0).
    pub fn event_of(self, i: u64) -> u64 {
        let (first, per) = self.slots();
        (i / per) * CYCLE + first + i % per
    }
}

/// What fixes the generated stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeneratorConfig {
    /// The seed: the same seed gives the same events.
    pub seed: u64,
    /// Events per second of event time: event `n` happens `n / events_per_second` seconds after
    /// `base_time_ns`.
    pub events_per_second: u64,
    /// The time of event 0, in nanoseconds since the Unix epoch.
    pub base_time_ns: i64,
}

impl GeneratorConfig {
    /// The event time of event `n`, in nanoseconds since the Unix epoch.
    pub fn time_of(&self, n: u64) -> i64 {
        let t = self.base_time_ns as i128
            + n as i128 * 1_000_000_000 / self.events_per_second.max(1) as i128;
        // Past the year 2262 a nanosecond timestamp no longer fits: it stays at the last one.
        t.clamp(i64::MIN as i128, i64::MAX as i128) as i64
    }
}

/// A small, fast random number generator (SplitMix64), seeded per event.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn for_event(seed: u64, n: u64) -> Rng {
        let mut r = Rng(seed ^ n.wrapping_mul(0xA24B_AED4_963E_E407));
        r.next();
        r
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0 .. n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        ((self.next() as u128 * n as u128) >> 64) as u64
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A price in cents spread evenly over six decades: 1.00 to 1,000,000.00.
    fn price(&mut self) -> i64 {
        (10f64.powf(self.unit() * 6.0) * 100.0).round() as i64
    }

    /// `len` random lower-case letters appended to `out`.
    fn letters(&mut self, out: &mut String, len: usize) {
        const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyzaeiouy";
        let mut left = len;
        while left > 0 {
            let mut bits = self.next();
            for _ in 0..left.min(12) {
                out.push(ALPHABET[(bits & 31) as usize] as char);
                bits >>= 5;
            }
            left -= left.min(12);
        }
    }

    /// Padding so that a row of `used` bytes reaches about `average` bytes (within 20%).
    fn extra(&mut self, out: &mut String, used: usize, average: usize) {
        if used >= average {
            return;
        }
        let target = average - used;
        let spread = target / 5;
        let len = target - spread + self.below(2 * spread as u64 + 1) as usize;
        self.letters(out, len);
    }
}

const FIRST_NAMES: &[&str] = &[
    "Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter",
    "Maria", "Amir", "Chen", "Olga", "Ravi",
];
const LAST_NAMES: &[&str] = &[
    "Shultz",
    "Abrams",
    "Spencer",
    "White",
    "Bartels",
    "Walton",
    "Smith",
    "Jones",
    "Noris",
    "Okafor",
    "Tanaka",
    "Lindqvist",
];
/// (city, state): the states include OR, ID and CA, which Nexmark's q3 selects.
const PLACES: &[(&str, &str)] = &[
    ("Phoenix", "AZ"),
    ("Los Angeles", "CA"),
    ("San Francisco", "CA"),
    ("Boise", "ID"),
    ("Portland", "OR"),
    ("Bend", "OR"),
    ("Redmond", "WA"),
    ("Seattle", "WA"),
    ("Kent", "WA"),
    ("Cheyenne", "WY"),
    ("Denver", "CO"),
    ("Austin", "TX"),
];
const HOT_CHANNELS: &[&str] = &["Google", "Facebook", "Baidu", "Apple"];

/// Builds the columns of one table for a run of its events; `wanted[c]` says whether column `c`
/// of the table's schema is needed (the others are not computed).
#[derive(Debug)]
pub(crate) struct BatchBuilder {
    table: Table,
    config: GeneratorConfig,
    wanted: Vec<bool>,
    ints: Vec<Int64Builder>,
    strings: Vec<StringBuilder>,
    times: Vec<TimestampNanosecondBuilder>,
    scratch: String,
}

impl BatchBuilder {
    /// A builder of `table`'s rows with the columns `projection` (all when `None`).
    pub(crate) fn new(table: Table, config: GeneratorConfig, projection: Option<&[usize]>) -> Self {
        let width = table.schema().fields().len();
        let mut wanted = vec![projection.is_none(); width];
        for &c in projection.unwrap_or(&[]) {
            wanted[c] = true;
        }
        BatchBuilder {
            table,
            config,
            wanted,
            ints: Vec::new(),
            strings: Vec::new(),
            times: Vec::new(),
            scratch: String::new(),
        }
    }

    /// The rows of this table's events numbered `from .. to` (of the whole stream), in the
    /// projection's column order.
    pub(crate) fn build(
        &mut self,
        from: u64,
        to: u64,
        projection: Option<&[usize]>,
    ) -> Vec<ArrayRef> {
        let rows = self.table.count_between(from, to) as usize;
        let first = self.table.count_below(from);
        let schema = self.table.schema();
        self.ints = (0..schema.fields().len())
            .map(|_| Int64Builder::with_capacity(0))
            .collect();
        self.strings = (0..schema.fields().len())
            .map(|_| StringBuilder::new())
            .collect();
        self.times = (0..schema.fields().len())
            .map(|_| TimestampNanosecondBuilder::with_capacity(0))
            .collect();
        for (c, field) in schema.fields().iter().enumerate() {
            if !self.wanted[c] {
                continue;
            }
            match field.data_type() {
                DataType::Int64 => self.ints[c] = Int64Builder::with_capacity(rows),
                DataType::Utf8 => self.strings[c] = StringBuilder::with_capacity(rows, rows * 16),
                _ => self.times[c] = TimestampNanosecondBuilder::with_capacity(rows),
            }
        }
        for i in first..first + rows as u64 {
            let n = self.table.event_of(i);
            match self.table {
                Table::Person => self.person(n),
                Table::Auction => self.auction(n),
                Table::Bid => self.bid(n),
            }
        }
        let all: Vec<usize> = (0..schema.fields().len()).collect();
        projection
            .unwrap_or(&all)
            .iter()
            .map(|&c| -> ArrayRef {
                match schema.field(c).data_type() {
                    DataType::Int64 => Arc::new(self.ints[c].finish()),
                    DataType::Utf8 => Arc::new(self.strings[c].finish()),
                    _ => Arc::new(self.times[c].finish()),
                }
            })
            .collect()
    }

    fn int(&mut self, c: usize, v: i64) {
        if self.wanted[c] {
            self.ints[c].append_value(v);
        }
    }

    fn time(&mut self, c: usize, v: i64) {
        if self.wanted[c] {
            self.times[c].append_value(v);
        }
    }

    /// Appends the scratch string to column `c` and returns its length.
    fn take_scratch(&mut self, c: usize) -> usize {
        let len = self.scratch.len();
        if self.wanted[c] {
            self.strings[c].append_value(&self.scratch);
        }
        self.scratch.clear();
        len
    }

    fn text(&mut self, c: usize, v: &str) -> usize {
        if self.wanted[c] {
            self.strings[c].append_value(v);
        }
        v.len()
    }

    fn person(&mut self, n: u64) {
        let mut r = Rng::for_event(self.config.seed, n);
        let id = FIRST_PERSON_ID + Table::Person.count_below(n) as i64;
        let first = FIRST_NAMES[r.below(FIRST_NAMES.len() as u64) as usize];
        let last = LAST_NAMES[r.below(LAST_NAMES.len() as u64) as usize];
        let (city, state) = PLACES[r.below(PLACES.len() as u64) as usize];
        let mut used = 8 + 8;
        self.int(0, id);
        self.scratch.push_str(first);
        self.scratch.push(' ');
        self.scratch.push_str(last);
        used += self.take_scratch(1);
        r.letters(&mut self.scratch, 7);
        self.scratch.push('@');
        r.letters(&mut self.scratch, 5);
        self.scratch.push_str(".com");
        used += self.take_scratch(2);
        for group in 0..4 {
            if group > 0 {
                self.scratch.push(' ');
            }
            let digits = r.below(10_000);
            self.scratch.push_str(&format!("{digits:04}"));
        }
        used += self.take_scratch(3);
        used += self.text(4, city);
        used += self.text(5, state);
        self.time(6, self.config.time_of(n));
        r.extra(&mut self.scratch, used, PERSON_BYTES);
        self.take_scratch(7);
    }

    fn auction(&mut self, n: u64) {
        let mut r = Rng::for_event(self.config.seed, n);
        let id = FIRST_AUCTION_ID + Table::Auction.count_below(n) as i64;
        let seller =
            FIRST_PERSON_ID + pick(&mut r, people_before(n), HOT_SELLER_ODDS, ACTIVE_PEOPLE);
        let category = FIRST_CATEGORY_ID + r.below(NUM_CATEGORIES) as i64;
        let initial_bid = r.price();
        let reserve = initial_bid + r.price();
        let at = self.config.time_of(n);
        // Auctions stay open for about the time the next IN_FLIGHT_AUCTIONS auctions take to
        // open, uniformly between none of it and twice it.
        let horizon = self.config.time_of(n + IN_FLIGHT_AUCTIONS * CYCLE / 3) - at;
        let expires = at
            .saturating_add(1_000_000)
            .saturating_add(r.below(2 * horizon.max(1) as u64) as i64);
        let mut used = 8 * 7;
        self.int(0, id);
        r.letters(&mut self.scratch, 20);
        used += self.take_scratch(1);
        r.letters(&mut self.scratch, 100);
        used += self.take_scratch(2);
        self.int(3, initial_bid);
        self.int(4, reserve);
        self.time(5, at);
        self.time(6, expires);
        self.int(7, seller);
        self.int(8, category);
        r.extra(&mut self.scratch, used, AUCTION_BYTES);
        self.take_scratch(9);
    }

    fn bid(&mut self, n: u64) {
        let mut r = Rng::for_event(self.config.seed, n);
        let auction = FIRST_AUCTION_ID
            + pick(
                &mut r,
                auctions_before(n),
                HOT_AUCTION_ODDS,
                IN_FLIGHT_AUCTIONS,
            );
        let bidder =
            FIRST_PERSON_ID + pick(&mut r, people_before(n), HOT_BIDDER_ODDS, ACTIVE_PEOPLE);
        let price = r.price();
        let mut used = 8 * 4;
        self.int(0, auction);
        self.int(1, bidder);
        self.int(2, price);
        if r.below(HOT_CHANNEL_ODDS) > 0 {
            let hot = r.below(HOT_CHANNELS.len() as u64) as usize;
            used += self.text(3, HOT_CHANNELS[hot]);
            // A hot channel's url has fixed directories and no channel id.
            url_of(&mut self.scratch, 1_000_000 + hot as u64, None);
        } else {
            let k = r.below(CHANNELS);
            self.scratch.push_str("channel-");
            self.scratch.push_str(&k.to_string());
            used += self.take_scratch(3);
            url_of(&mut self.scratch, k, Some(k));
        }
        used += self.take_scratch(4);
        self.time(5, self.config.time_of(n));
        r.extra(&mut self.scratch, used, BID_BYTES);
        self.take_scratch(6);
    }
}

/// People who exist when event `n` happens (a person is event 0 of each cycle).
fn people_before(n: u64) -> u64 {
    Table::Person.count_below(n + 1)
}

/// Auctions that exist when event `n` happens (at least one from event 2 on).
fn auctions_before(n: u64) -> u64 {
    Table::Auction.count_below(n + 1).max(1)
}

/// A 0-based id among `existing` ones: with odds `(odds-1)/odds` the hot id (the latest multiple
/// of [`HOT_ID_STRIDE`]), otherwise one of the `recent` latest, uniformly.
fn pick(r: &mut Rng, existing: u64, odds: u64, recent: u64) -> i64 {
    let last = existing.max(1) - 1;
    if r.below(odds) > 0 {
        ((last / HOT_ID_STRIDE) * HOT_ID_STRIDE) as i64
    } else {
        let low = last.saturating_sub(recent - 1);
        (low + r.below(last - low + 1)) as i64
    }
}

/// The url of channel `k`: three directories that depend on `k` only, then the item page and,
/// for channels other than the hot ones, `channel_id=<id>`.
fn url_of(out: &mut String, k: u64, channel_id: Option<u64>) {
    let mut r = Rng::for_event(0x006e_6578_6d61_726b, k);
    out.push_str("https://www.nexmark.com/");
    for _ in 0..3 {
        r.letters(out, 5);
        out.push('/');
    }
    out.push_str("item.htm?query=1");
    if let Some(id) = channel_id {
        out.push_str("&channel_id=");
        out.push_str(&id.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, Int64Array, StringArray, TimestampNanosecondArray};

    fn config() -> GeneratorConfig {
        GeneratorConfig {
            seed: 7,
            events_per_second: 1000,
            base_time_ns: 1_700_000_000_000_000_000,
        }
    }

    fn rows(table: Table, from: u64, to: u64) -> Vec<ArrayRef> {
        BatchBuilder::new(table, config(), None).build(from, to, None)
    }

    #[test]
    fn the_kinds_keep_the_proportions_one_three_forty_six() {
        for (from, to) in [(0, 50), (0, 5000), (17, 1234), (49, 51), (3, 3)] {
            let p = Table::Person.count_between(from, to);
            let a = Table::Auction.count_between(from, to);
            let b = Table::Bid.count_between(from, to);
            assert_eq!(p + a + b, to - from, "{from}..{to}");
        }
        assert_eq!(Table::Person.count_below(5000), 100);
        assert_eq!(Table::Auction.count_below(5000), 300);
        assert_eq!(Table::Bid.count_below(5000), 4600);
        for t in [Table::Person, Table::Auction, Table::Bid] {
            for i in 0..200 {
                let n = t.event_of(i);
                assert_eq!(t.count_below(n), i, "{t:?} {i}");
                assert_eq!(t.count_below(n + 1), i + 1);
            }
        }
    }

    #[test]
    fn any_split_of_a_range_gives_the_same_rows() {
        for t in [Table::Person, Table::Auction, Table::Bid] {
            let whole = rows(t, 0, 3000);
            let a = rows(t, 0, 1234);
            let b = rows(t, 1234, 3000);
            for c in 0..whole.len() {
                let joined = arrow::compute::concat(&[a[c].as_ref(), b[c].as_ref()]).unwrap();
                assert_eq!(&joined, &whole[c], "{t:?} column {c}");
            }
        }
    }

    #[test]
    fn a_projection_computes_the_same_values() {
        let all = rows(Table::Bid, 100, 900);
        let some =
            BatchBuilder::new(Table::Bid, config(), Some(&[5, 2])).build(100, 900, Some(&[5, 2]));
        assert_eq!(&some[0], &all[5]);
        assert_eq!(&some[1], &all[2]);
    }

    #[test]
    fn another_seed_gives_other_values_and_the_same_ids() {
        let a = rows(Table::Auction, 0, 500);
        let other = GeneratorConfig {
            seed: 8,
            ..config()
        };
        let b = BatchBuilder::new(Table::Auction, other, None).build(0, 500, None);
        assert_eq!(&a[0], &b[0], "auction ids depend on the event number only");
        assert_ne!(&a[3], &b[3], "initial bids depend on the seed");
    }

    #[test]
    fn bids_go_to_existing_auctions_and_people_and_time_moves_on() {
        let n = 20_000;
        let bids = rows(Table::Bid, 0, n);
        let auction = bids[0].as_any().downcast_ref::<Int64Array>().unwrap();
        let bidder = bids[1].as_any().downcast_ref::<Int64Array>().unwrap();
        let time = bids[5]
            .as_any()
            .downcast_ref::<TimestampNanosecondArray>()
            .unwrap();
        let max_auction = FIRST_AUCTION_ID + Table::Auction.count_below(n) as i64;
        let max_person = FIRST_PERSON_ID + Table::Person.count_below(n) as i64;
        let mut hot = 0;
        for i in 0..auction.len() {
            assert!((FIRST_AUCTION_ID..max_auction).contains(&auction.value(i)));
            assert!((FIRST_PERSON_ID..max_person).contains(&bidder.value(i)));
            if i > 0 {
                assert!(time.value(i) > time.value(i - 1));
            }
            hot += usize::from((auction.value(i) - FIRST_AUCTION_ID) % 100 == 0);
        }
        // About half the bids go to a hot auction.
        let share = hot as f64 / auction.len() as f64;
        assert!((0.4..0.65).contains(&share), "hot share {share}");
        // Event 4 is the first bid: 4 ms after the base time at 1,000 events per second.
        assert_eq!(time.value(0), config().base_time_ns + 4_000_000);
    }

    #[test]
    fn rows_are_padded_to_about_their_average_size_and_urls_carry_the_channel() {
        let bids = rows(Table::Bid, 0, 5000);
        let extra = bids[6].as_any().downcast_ref::<StringArray>().unwrap();
        let url = bids[4].as_any().downcast_ref::<StringArray>().unwrap();
        let channel = bids[3].as_any().downcast_ref::<StringArray>().unwrap();
        let mut total = 0;
        for i in 0..extra.len() {
            total += 32 + channel.value(i).len() + url.value(i).len() + extra.value(i).len();
            let c = channel.value(i);
            if let Some(k) = c.strip_prefix("channel-") {
                assert!(
                    url.value(i).ends_with(&format!("channel_id={k}")),
                    "{}",
                    url.value(i)
                );
            } else {
                assert!(HOT_CHANNELS.contains(&c));
                assert!(!url.value(i).contains("channel_id"));
            }
        }
        let avg = total as f64 / extra.len() as f64;
        assert!(avg >= 95.0, "average bid size {avg}");
        let auctions = rows(Table::Auction, 0, 5000);
        let category = auctions[8].as_any().downcast_ref::<Int64Array>().unwrap();
        assert!(category.iter().all(|c| (10..15).contains(&c.unwrap())));
        assert!(category.iter().any(|c| c == Some(10)));
        let people = rows(Table::Person, 0, 5000);
        let state = people[5].as_any().downcast_ref::<StringArray>().unwrap();
        assert!(state.iter().any(|s| s == Some("OR")));
    }
}
