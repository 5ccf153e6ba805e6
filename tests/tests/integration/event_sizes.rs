//! Event-size mixes: the kernel program writes records of varying size,
//! the consumer checks every record's size against the same table, and the
//! estimate plans from the mix's mean record.
use capacity_tests::{assert_usage_error, capacity, json_of, kernel_test, u};

/// 64:70,512:25,4096:5 over the 1024-slot table: 717, 256 and 51 slots
/// (largest remainder), records of 72, 520 and 4104 bytes, so the mean
/// record is (717 × 72 + 256 × 520 + 51 × 4104) / 1024 = 384.8125 bytes.
const MIX: &str = "64:70,512:25,4096:5";
const MEAN_RECORD: f64 = 384.8125;

#[test]
fn a_size_mix_is_written_and_checked_event_by_event() {
    let Some(_lock) = kernel_test() else { return };
    // 1024 events per producer: each slot of the table once. A record of a
    // size other than its slot's would be malformed, and the run would exit 3.
    let out =
        capacity(&["load", "--json", "--rate", "20k", "--duration", "1", "--event-size", MIX, "--ringbuf-size", "16M"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v = json_of(&out);
    assert_eq!(v["event_size_mix"], MIX, "{v}");
    assert_eq!(v["mean_record_bytes"].as_f64(), Some(MEAN_RECORD), "{v}");
    assert_eq!(u(&v, "event_size"), 377, "the mean event, rounded: {v}");
    assert_eq!(u(&v, "dropped"), 0, "{v}");
    assert_eq!(u(&v, "emitted"), u(&v, "consumed"), "{v}");
    assert_eq!(u(&v, "triggers"), u(&v, "emitted"), "{v}");

    // A ring too small for the bursts of 4 KiB records drops, and the
    // accounting still adds up event by event.
    let out = capacity(&[
        "load", "--json", "--rate", "100k", "--duration", "1", "--event-size", "1K..16K", "--ringbuf-size", "64K",
        "--consumer-work", "20000",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v = json_of(&out);
    assert!(u(&v, "dropped") > 0, "{v}");
    assert_eq!(u(&v, "triggers"), u(&v, "emitted") + u(&v, "dropped"), "{v}");
    assert_eq!(u(&v, "emitted"), u(&v, "consumed"), "{v}");
    // Drops after the last consumed record leave no gap to see.
    assert!(u(&v, "seq_gaps") <= u(&v, "dropped") && u(&v, "seq_gaps") > 0, "{v}");
    assert!(u(&v, "peak_occupancy_bytes") <= 64 << 10, "{v}");
}

#[test]
fn estimate_plans_a_mix_from_its_mean_record() {
    // 10k events/s × 384.8125 B × 5 s × 1.2 = 23.1 MB: 32 MiB.
    let out = capacity(&["estimate", "ringbuf", "--rate", "10k", "--event-size", MIX, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v = json_of(&out);
    assert_eq!(u(&v, "recommended_bytes"), 32 << 20, "{v}");
    assert_eq!(v["mean_record_bytes"].as_f64(), Some(MEAN_RECORD), "{v}");
    assert_eq!(v["event_size_mix"], MIX, "{v}");
    assert_usage_error(&capacity(&["estimate", "ringbuf", "--rate", "10k", "--event-size", "64..32"]), "LO below HI");
    assert_usage_error(&capacity(&["load", "--rate", "10k", "--event-size", "64:1,20K:1"]), "16384");
}

/// `size` with a mix: a consumer stalled 50 ms every second at 20k events/s
/// leaves 1000 events behind, 1000 × 384.8 B = 384812 bytes on average
/// (the 1000 events of a stall cover the table's slots about evenly: any
/// 128 in a row hold all three sizes). 256 KiB (262144) must drop, 512 KiB
/// (524288) holds with 139 KB to spare for the consumer's ordinary lag at
/// this low rate: the answer is asserted exactly.
#[test]
fn size_holds_the_backlog_of_a_mix() {
    let Some(_lock) = kernel_test() else { return };
    let out = capacity(&[
        "size", "--json", "--rate", "20k", "--event-size", MIX, "--consumer-stall", "50@1000", "--step-duration", "1s",
        "--min", "64K", "--max", "2M",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v = json_of(&out);
    assert_eq!(u(&v, "min_ringbuf_size"), 512 << 10, "{v}");
    assert_eq!(v["confirmed"], true, "{v}");
    assert_eq!(v["mean_record_bytes"].as_f64(), Some(MEAN_RECORD), "{v}");
    // The lab's formula from the mean event (377 B): 20k × 377 × 5 × 1.2 = 45.2 MB -> 64 MiB.
    assert_eq!(u(&v, "lab_bytes"), 64 << 20, "{v}");
    for t in v["trials"].as_array().unwrap() {
        assert_eq!(u(t, "emitted"), u(t, "consumed"), "{t}");
        if u(t, "ringbuf_size") <= 256 << 10 {
            assert_eq!(t["failed_by"], "drops", "{t}");
        }
    }
    let peak = u(&v, "peak_occupancy_bytes");
    assert!(peak > 256 << 10 && peak <= 512 << 10, "peak {peak}: {v}");
}
