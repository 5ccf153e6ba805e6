//! Reading a deployment: an operator's own BPF objects before a rollout,
//! and what is loaded on a live host now. Sizes come from the memory model
//! (`crate::memory`); this area only reads and describes.
//!
//! - [`kinds`]: the kernel's names for map types, program types and flags;
//! - [`object`]: the maps an ELF object declares;
//! - [`sizing`]: one map's description sized with the memory model;
//! - [`nodes`]: node shapes and one node's maps and total;
//! - [`inspect`]: `capacity inspect`, an object on every node shape;
//! - [`inventory`]: `capacity host`, every map and program loaded now;
//! - [`owners`]: which processes hold each map and program;
//! - [`layouts`]: the maps inside arrays of maps, each process's perf buffers;
//! - [`ringbuf`]: bytes pending in a live ring buffer;
//! - [`entries`]: entries in use in a live hash map, counted by the kernel.
pub mod entries;
pub mod inspect;
pub mod inventory;
pub mod kinds;
pub mod layouts;
pub mod nodes;
pub mod object;
pub mod owners;
pub mod ringbuf;
pub mod sizing;
