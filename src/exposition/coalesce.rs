//! Single-flight rendering: scrapes that arrive while an exposition is being rendered wait for
//! that rendering and share its bytes, so concurrent scrapes cost one rendering and pin one
//! copy of the exposition however many clients read it.
//!
//! One rendering runs at a time per format and encoding (gzip or identity): at most
//! `Format::ALL.len() × 2` renderings at once, whatever the number of scrapers. A rendering
//! whose previous result was large runs on a thread of its own rather than on the caller's,
//! which is usually an async worker that other requests are waiting for.
//!
//! Sharing covers scrapes that overlap a rendering; readers that arrive one after another and
//! read slowly would each pin a rendering of their own. So at most [`MAX_HELD`] renderings per
//! format and encoding may be held by answers at once (being rendered or still being read):
//! a scrape that would start another is refused with `503`, and the heap holds at most
//! `MAX_HELD` copies of each exposition whatever the number of slow readers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytes::Bytes;
use parking_lot::Mutex;

use super::encode::encode_parts;
use super::{EncodeError, Format};
use crate::metrics::Shared;

/// Above this many bytes (the previous rendering's size, before compression) a rendering
/// moves to a thread of its own: about a quarter of a millisecond of encoding, against some
/// tens of microseconds to start a thread, at most once per scrape.
pub(crate) const OFF_THREAD_BYTES: usize = 64 * 1024;

/// Formats × {identity, gzip}.
const KEYS: usize = 3 * 2;

/// Renderings of one format and encoding that answers may hold at once: the one being read by
/// a slow client and the next.
pub(crate) const MAX_HELD: usize = 2;

/// What one scrape asks to be rendered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Key {
    pub(crate) format: Format,
    pub(crate) gzip: bool,
}

impl Key {
    fn index(self) -> usize {
        let format = match self.format {
            Format::PrometheusText => 0,
            Format::OpenMetrics => 1,
            #[cfg(feature = "protobuf")]
            Format::Protobuf => 2,
        };
        format * 2 + usize::from(self.gzip)
    }
}

/// The result of one rendering, shared by every scrape that waited for it.
#[derive(Clone, Debug)]
pub(crate) struct Rendered {
    /// The body (compressed when `gzip`), or why nothing could be rendered.
    pub(crate) result: Result<Bytes, EncodeError>,
    /// Whether the body is gzip (a client may accept gzip and still get identity when the
    /// compressor fails).
    pub(crate) gzip: bool,
}

/// The renderings in progress of one [`Metrics`](crate::Metrics).
#[derive(Debug, Default)]
pub(crate) struct Renders {
    in_flight: Mutex<[Option<Arc<Flight>>; KEYS]>,
    /// The size of the last rendering per format, before compression: the estimate of the next.
    last_size: [AtomicUsize; 3],
    /// Renderings per key started and not yet released by every answer that holds their bytes.
    held: [Arc<AtomicUsize>; KEYS],
}

/// One of a key's [`MAX_HELD`] places, taken when its rendering starts and given back when
/// the last copy of its bytes is dropped (or the rendering fails).
#[derive(Debug)]
struct HeldPlace(Arc<AtomicUsize>);

impl Drop for HeldPlace {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A rendering's bytes with the place they take: dropped with the last `Bytes` that shares them.
struct HeldBytes {
    bytes: Vec<u8>,
    _place: HeldPlace,
}

impl AsRef<[u8]> for HeldBytes {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

/// One rendering, awaited by one or more scrapes.
#[derive(Debug, Default)]
pub(crate) struct Flight {
    state: Mutex<FlightState>,
}

#[derive(Debug)]
enum FlightState {
    Running(Vec<Waker>),
    Done(Rendered),
}

impl Default for FlightState {
    fn default() -> Self {
        Self::Running(Vec::new())
    }
}

impl Flight {
    /// The result once the rendering is done; until then, `cx`'s waker is woken when it is.
    pub(crate) fn poll_result(&self, cx: &mut Context<'_>) -> Poll<Rendered> {
        let mut state = self.state.lock();
        match &mut *state {
            FlightState::Done(rendered) => Poll::Ready(rendered.clone()),
            FlightState::Running(wakers) => {
                if !wakers.iter().any(|waker| waker.will_wake(cx.waker())) {
                    wakers.push(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }

    /// The result if the rendering is done.
    pub(crate) fn result(&self) -> Option<Rendered> {
        match &*self.state.lock() {
            FlightState::Done(rendered) => Some(rendered.clone()),
            FlightState::Running(_) => None,
        }
    }

    fn complete(&self, rendered: Rendered) {
        let wakers = match std::mem::replace(&mut *self.state.lock(), FlightState::Done(rendered)) {
            FlightState::Running(wakers) => wakers,
            FlightState::Done(_) => Vec::new(),
        };
        wakers.into_iter().for_each(Waker::wake);
    }
}

impl Renders {
    /// The rendering `key` asks for: the one in progress, or a new one that this call starts
    /// (inline when the last one was small, else on its own thread); `None` when [`MAX_HELD`]
    /// renderings of `key` are still held by answers being read.
    pub(crate) fn join_or_start(&self, shared: &Arc<Shared>, key: Key) -> Option<Arc<Flight>> {
        let (flight, place) = {
            let mut in_flight = self.in_flight.lock();
            if let Some(flight) = &in_flight[key.index()] {
                return Some(flight.clone());
            }
            let held = &self.held[key.index()];
            // Places are taken under `in_flight`'s lock, so the check and the increment agree.
            if held.load(Ordering::Relaxed) >= MAX_HELD {
                return None;
            }
            held.fetch_add(1, Ordering::Relaxed);
            let flight = Arc::new(Flight::default());
            in_flight[key.index()] = Some(flight.clone());
            (flight, HeldPlace(held.clone()))
        };
        let leader = Leader {
            shared: shared.clone(),
            flight: flight.clone(),
            key,
            place: Some(place),
        };
        if self.last_size[key.index() / 2].load(Ordering::Relaxed) < OFF_THREAD_BYTES {
            leader.render();
            return Some(flight);
        }
        let leader = Arc::new(Mutex::new(Some(leader)));
        let for_thread = leader.clone();
        let spawned = std::thread::Builder::new()
            .name("tower-prometheus-render".to_owned())
            .spawn(move || {
                let leader = for_thread.lock().take();
                if let Some(leader) = leader {
                    leader.render();
                }
            });
        if spawned.is_err() {
            // Out of threads: render here rather than fail the scrape.
            let leader = leader.lock().take();
            if let Some(leader) = leader {
                leader.render();
            }
        }
        Some(flight)
    }
}

/// The scrape that renders for a flight. Dropped without completing it (a panic), it fails
/// the flight rather than leaving its waiters waiting for ever.
struct Leader {
    shared: Arc<Shared>,
    flight: Arc<Flight>,
    key: Key,
    /// Moves into the rendered bytes; released here if the rendering fails.
    place: Option<HeldPlace>,
}

impl Leader {
    fn render(mut self) {
        let place = self.place.take();
        let Key { format, gzip } = self.key;
        let started = Instant::now();
        let rendered = encode_parts(&self.shared, format);
        self.shared
            .scrape_metrics()
            .record_render(format, started.elapsed());
        let rendered = match rendered {
            Ok(bytes) => {
                self.shared.renders().last_size[self.key.index() / 2].store(bytes.len(), Ordering::Relaxed);
                compress(bytes, gzip, place)
            }
            Err(error) => Rendered {
                result: Err(error),
                gzip: false,
            },
        };
        self.finish(rendered);
    }

    fn finish(&self, rendered: Rendered) {
        // Scrapes arriving from here on start a rendering of their own, of newer values.
        let mut in_flight = self.shared.renders().in_flight.lock();
        let slot = &mut in_flight[self.key.index()];
        if slot
            .as_ref()
            .is_some_and(|flight| Arc::ptr_eq(flight, &self.flight))
        {
            *slot = None;
        }
        drop(in_flight);
        self.flight.complete(rendered);
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        if self.flight.result().is_none() {
            self.finish(Rendered {
                result: Err(EncodeError::default()),
                gzip: false,
            });
        }
    }
}

/// The body as sent: compressed when asked and possible, without spare capacity (a shared
/// body is pinned as long as its slowest reader).
#[cfg_attr(not(feature = "gzip"), allow(unused_variables))]
fn compress(bytes: Vec<u8>, gzip: bool, place: Option<HeldPlace>) -> Rendered {
    #[cfg(feature = "gzip")]
    if gzip {
        if let Some(compressed) = super::compress::gzip(&bytes) {
            return Rendered {
                result: Ok(shrunk(compressed, place)),
                gzip: true,
            };
        }
    }
    Rendered {
        result: Ok(shrunk(bytes, place)),
        gzip: false,
    }
}

fn shrunk(mut bytes: Vec<u8>, place: Option<HeldPlace>) -> Bytes {
    bytes.shrink_to_fit();
    match place {
        Some(place) => Bytes::from_owner(HeldBytes { bytes, _place: place }),
        None => Bytes::from(bytes),
    }
}
