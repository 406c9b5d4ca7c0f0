//! What the layer costs per request: one axum route, bare vs our layer vs axum-prometheus's,
//! each request driven in-process and its body read to the end.
//!
//! Run: `cargo bench --all-features --bench middleware` (with the `axum` feature the `view`
//! label comes from `MatchedPath`, as in a real axum app). After criterion's output, a summary
//! prints the overhead of each layer over `bare` and the 2-thread scaling, all from this run,
//! then, when `valgrind` is installed, the instructions per request of each variant (this
//! binary run again under callgrind with `MIDDLEWARE_FIXED_RUN`).

#[path = "support/criterion_report.rs"]
mod criterion_report;

use std::hint::black_box;
use std::sync::{Barrier, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use criterion::{criterion_group, Criterion, Throughput};
use http::Request;
use http_body_util::BodyExt;
use tokio::runtime::Runtime;
use tower::ServiceExt;

const GROUP: &str = "middleware";
/// `VARIANT:N` runs N warm requests through one variant and exits, for instruction counts:
/// `MIDDLEWARE_FIXED_RUN=tower_prometheus:20000 valgrind --tool=callgrind <bench binary>`;
/// the difference of two runs with different N, divided by their difference, is the count per
/// request without the setup. Besides the criterion variants, `tower_prometheus_excluded` (every
/// request excluded by a prefix), `tower_prometheus_not_excluded` (exclusion rules that match
/// nothing), `tower_prometheus_response_duration` and `tower_prometheus_request_label` (a label
/// read from the path's first segment) price the route-level options.
const FIXED_RUN: &str = "MIDDLEWARE_FIXED_RUN";
/// When set, the binary prints only the instructions per request of each variant (valgrind
/// needed), without criterion's measurements.
const INSTRUCTIONS_ONLY: &str = "MIDDLEWARE_INSTRUCTIONS_ONLY";

fn router() -> Router {
    Router::new().route("/users/{id}", get(|| async { "user" }))
}

/// Turns every route into its final service once, as `axum::serve` does (through
/// `into_make_service`). Without it, a `Router<()>` called directly rebuilds each handler's
/// route and applies every layer again on every request, which is not what a server pays.
fn finalize(router: Router) -> Router {
    router.with_state(())
}

/// A layer that wraps the response body and records nothing: what any body-observing layer
/// costs in axum (a `Router::layer` whose body type changes is boxed per response).
fn passthrough(router: Router) -> Router {
    router.layer(tower::util::MapResponseLayer::new(
        |response: http::Response<Body>| response.map(|body| body.map_err(axum::Error::new)),
    ))
}

fn new_runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A variant under test: an axum router, or our layer wrapped around a whole router as a
/// plain tower service (no `Router::layer`, so none of axum's per-layer boxing; the view is
/// then `<unnamed view>`, since `MatchedPath` is set inside the router).
#[derive(Clone)]
enum App {
    Router(Router),
    AroundRouter(tower_prometheus::MetricsService<Router>),
}

/// One request through `app`, its body read to the end.
async fn request(app: &App) {
    let request = Request::get("/users/7").body(Body::empty()).expect("request");
    match app {
        App::Router(router) => read(router.clone().oneshot(request).await.expect("infallible")).await,
        App::AroundRouter(service) => read(service.clone().oneshot(request).await.expect("infallible")).await,
    }
}

async fn read<B>(response: http::Response<B>)
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.expect("body");
    black_box(body.to_bytes());
}

fn around_router() -> App {
    use tower::Layer;
    App::AroundRouter(tower_prometheus::Metrics::new().layer().layer(finalize(router())))
}

/// Runs `iters` requests on one thread and returns the time they took. Callgrind counts while
/// `middleware::run` is on the stack: it is never inlined, and its result passes through
/// `black_box` so that `block_on` is a call, not a tail jump that would leave `run` (the
/// async block itself may be inlined into `block_on`, depending on the build).
#[inline(never)]
fn run(runtime: &Runtime, app: &App, iters: u64) -> Duration {
    let elapsed = runtime.block_on(async {
        let start = Instant::now();
        for _ in 0..iters {
            request(app).await;
        }
        start.elapsed()
    });
    black_box(elapsed)
}

/// Runs `iters` requests split over two threads sharing `app` (one layer, one label set) and
/// returns the wall-clock time from the common start to the last thread's end. The threads are
/// started for each batch: long-lived workers woken by one thread were placed on that thread's
/// core by the scheduler and ran one after the other for most of a short batch.
fn run_two_threads(runtimes: &[Runtime; 2], app: &App, iters: u64) -> Duration {
    let barrier = Barrier::new(2);
    let shares = [iters / 2, iters - iters / 2];
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|scope| {
        let workers: Vec<_> = runtimes
            .iter()
            .zip(shares)
            .map(|(runtime, share)| {
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    run(runtime, app, share);
                    (start, Instant::now())
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().expect("worker"))
            .collect()
    });
    let start = spans.iter().map(|span| span.0).min().expect("two spans");
    let end = spans.iter().map(|span| span.1).max().expect("two spans");
    end - start
}

/// Every variant, built once: axum-prometheus installs a process-wide recorder.
struct Apps {
    runtime: Runtime,
    runtimes: [Runtime; 2],
    bare: App,
    floor: App,
    ours: App,
    peer: App,
    around: App,
}

fn apps() -> &'static Apps {
    static APPS: OnceLock<Apps> = OnceLock::new();
    APPS.get_or_init(|| {
        let runtime = new_runtime();
        // axum-prometheus spawns its upkeep task on the runtime it is created in.
        let (peer_layer, _peer_handle) = {
            let _entered = runtime.enter();
            axum_prometheus::PrometheusMetricLayer::pair()
        };
        let apps = Apps {
            runtimes: [new_runtime(), new_runtime()],
            bare: App::Router(finalize(router())),
            floor: App::Router(finalize(passthrough(router()))),
            ours: App::Router(finalize(router().layer(tower_prometheus::Metrics::new().layer()))),
            peer: App::Router(finalize(router().layer(peer_layer))),
            around: around_router(),
            runtime,
        };
        // Warm every label set so the measured requests are the steady state.
        for app in [&apps.bare, &apps.floor, &apps.ours, &apps.peer, &apps.around] {
            run(&apps.runtime, app, 100);
        }
        apps
    })
}

fn middleware(c: &mut Criterion) {
    let apps = apps();
    let runtime = &apps.runtime;
    let mut group = c.benchmark_group(GROUP);
    group
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(1));
    for (name, app) in [
        ("bare", &apps.bare),
        ("passthrough_layer", &apps.floor),
        ("tower_prometheus", &apps.ours),
        ("axum_prometheus", &apps.peer),
        ("tower_prometheus_around_router", &apps.around),
    ] {
        group.bench_function(name, |b| b.iter_custom(|iters| run(runtime, app, iters)));
    }
    for (name, app) in [
        ("bare_2_threads", &apps.bare),
        ("tower_prometheus_2_threads", &apps.ours),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| run_two_threads(&apps.runtimes, app, iters))
        });
    }
    group.finish();
}

/// Seconds for a batch on one thread and on two.
type OneAndTwo = (f64, f64);
/// One round: the bare router's times, then ours.
type Round = (OneAndTwo, OneAndTwo);

/// The median of `values`.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Criterion measures one function after the other, so load from other processes on a
/// shared machine lands on some functions and not others. Here the variants take turns in
/// short batches and the median of each per-batch difference is reported, which drift
/// affects equally.
fn print_paired() {
    const ROUNDS: usize = 101;
    const BATCH: u64 = 400;
    let apps = apps();
    let variants = [&apps.bare, &apps.floor, &apps.ours, &apps.peer, &apps.around];
    let mut per_request = vec![Vec::with_capacity(ROUNDS); variants.len()];
    for _ in 0..ROUNDS {
        for (times, app) in per_request.iter_mut().zip(variants) {
            times.push(run(&apps.runtime, app, BATCH).as_nanos() as f64 / BATCH as f64);
        }
    }
    let difference = |a: usize, b: usize| {
        median(
            per_request[a]
                .iter()
                .zip(&per_request[b])
                .map(|(a, b)| a - b)
                .collect(),
        )
    };
    let (ours, peer, floor) = (difference(2, 0), difference(3, 0), difference(1, 0));
    let around = difference(4, 0);
    println!("\npaired ({ROUNDS} interleaved rounds of {BATCH} requests, medians, ns per request):");
    println!(
        "  bare {:.0}; overhead over bare: passthrough_layer {floor:.0}, tower_prometheus {ours:.0} \
         (target <= 150), axum_prometheus {peer:.0}; ours / theirs = {:.2} (target <= 0.5)",
        median(per_request[0].clone()),
        ours / peer
    );
    println!(
        "  our layer around the whole router (a tower service, no Router::layer): {around:.0} over bare; \
         through Router::layer, ours above passthrough_layer: {:.0}",
        difference(2, 1)
    );

    // Each round measures both apps on one and two threads back to back, so a round where
    // another process holds the second core shows up in the bare router's scaling too. Besides
    // the median of the per-round ratios, the ratio of the fastest batches (the least disturbed
    // estimate of each configuration on a shared machine) is printed.
    const THREAD_ROUNDS: usize = 41;
    const THREAD_BATCH: u64 = 4000;
    let times = |app: &App| {
        let one = run(&apps.runtime, app, THREAD_BATCH).as_secs_f64();
        let two = run_two_threads(&apps.runtimes, app, THREAD_BATCH).as_secs_f64();
        (one, two)
    };
    let mut rounds = Vec::with_capacity(THREAD_ROUNDS);
    for _ in 0..THREAD_ROUNDS {
        rounds.push((times(&apps.bare), times(&apps.ours)));
    }
    let scaling = |pick: fn(&Round) -> OneAndTwo| {
        let pairs: Vec<OneAndTwo> = rounds.iter().map(pick).collect();
        let per_round = median(pairs.iter().map(|(one, two)| one / two).collect());
        let fastest = |side: fn(&OneAndTwo) -> f64| pairs.iter().map(side).fold(f64::INFINITY, f64::min);
        (per_round, fastest(|pair| pair.0) / fastest(|pair| pair.1))
    };
    let (bare, bare_fastest) = scaling(|round| round.0);
    let (ours, ours_fastest) = scaling(|round| round.1);
    let relative = median(
        rounds
            .iter()
            .map(|((bare_one, bare_two), (ours_one, ours_two))| (ours_one / ours_two) / (bare_one / bare_two))
            .collect(),
    );
    println!(
        "  2 threads vs 1 on one label set (throughput, {THREAD_ROUNDS} rounds of {THREAD_BATCH}): \
         tower_prometheus {ours:.2}x (target >= 1.5), bare {bare:.2}x, ours / bare per round \
         {relative:.2}; from the fastest batches: tower_prometheus {ours_fastest:.2}x, bare {bare_fastest:.2}x"
    );
}

criterion_group!(benches, middleware);

/// Our layer on the router, built with `builder`'s options.
fn with_builder(builder: tower_prometheus::MetricsBuilder) -> App {
    let metrics = builder.build().expect("valid options");
    App::Router(finalize(router().layer(metrics.layer())))
}

fn fixed_run(spec: &str) {
    let (variant, requests) = spec.split_once(':').expect("VARIANT:N");
    let requests: u64 = requests.parse().expect("N");
    let runtime = new_runtime();
    let app = match variant {
        "bare" => App::Router(finalize(router())),
        "passthrough_layer" => App::Router(finalize(passthrough(router()))),
        "tower_prometheus" => App::Router(finalize(router().layer(tower_prometheus::Metrics::new().layer()))),
        "axum_prometheus" => {
            let _entered = runtime.enter();
            App::Router(finalize(
                router().layer(axum_prometheus::PrometheusMetricLayer::pair().0),
            ))
        }
        "tower_prometheus_around_router" => around_router(),
        // The cost of each route-level option, against `tower_prometheus`.
        "tower_prometheus_excluded" => {
            with_builder(tower_prometheus::Metrics::builder().exclude_path_prefix("/users/"))
        }
        "tower_prometheus_not_excluded" => with_builder(
            tower_prometheus::Metrics::builder()
                .exclude_path_prefix("/assets/")
                .exclude_method(http::Method::OPTIONS),
        ),
        "tower_prometheus_response_duration" => {
            with_builder(tower_prometheus::Metrics::builder().response_duration_histogram(true))
        }
        "tower_prometheus_request_label" => with_builder(tower_prometheus::Metrics::builder().request_label(
            "area",
            |head| head.uri().path().split('/').nth(1),
            100,
        )),
        "tower_prometheus_otel" => {
            with_builder(tower_prometheus::Metrics::builder().naming(tower_prometheus::Naming::OpenTelemetry))
        }
        other => panic!(
            "unknown variant {other}: expected one of {VARIANTS:?}, tower_prometheus_excluded, \
             tower_prometheus_not_excluded, tower_prometheus_response_duration, tower_prometheus_request_label \
             or tower_prometheus_otel"
        ),
    };
    run(&runtime, &app, 100);
    let elapsed = run(&runtime, &app, requests);
    println!(
        "{variant}: {requests} requests, {:.0} ns each",
        elapsed.as_nanos() as f64 / requests as f64
    );
}

fn main() {
    if let Ok(spec) = std::env::var(FIXED_RUN) {
        fixed_run(&spec);
        return;
    }
    if std::env::var_os(INSTRUCTIONS_ONLY).is_some() {
        print_instruction_counts();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
    // `cargo test --benches` runs each function once without `--bench`: nothing to summarise.
    if std::env::args().any(|argument| argument == "--bench") {
        print_summary();
        print_paired();
        print_instruction_counts();
    }
}

/// The variants `MIDDLEWARE_FIXED_RUN` accepts, in the order the counts are printed.
const VARIANTS: [&str; 5] = [
    "bare",
    "passthrough_layer",
    "tower_prometheus",
    "tower_prometheus_around_router",
    "axum_prometheus",
];
/// The two run lengths whose difference gives the count per request, setup excluded.
const COUNTED_RUNS: [u64; 2] = [5_000, 15_000];

/// Instructions callgrind counts inside the request loop (`middleware::run`) of this binary
/// run with `MIDDLEWARE_FIXED_RUN=variant:requests`; `None` if valgrind cannot be run.
fn callgrind_instructions(variant: &str, requests: u64) -> Option<u64> {
    let out = std::env::temp_dir().join(format!(
        "middleware-callgrind-{}-{variant}-{requests}.out",
        std::process::id()
    ));
    let status = std::process::Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg("--collect-atstart=no")
        .arg("--toggle-collect=middleware::run")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(std::env::current_exe().ok()?)
        .env(FIXED_RUN, format!("{variant}:{requests}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .ok()?;
    let profile = std::fs::read_to_string(&out).ok();
    let _ = std::fs::remove_file(&out);
    if !status.success() {
        return None;
    }
    profile?.lines().find_map(|line| {
        line.strip_prefix("summary:")
            .or_else(|| line.strip_prefix("totals:"))
            .and_then(|total| total.trim().parse().ok())
    })
}

/// Instructions per request of each variant: immune to the load of a shared machine, which
/// moves the timings above by ±15 %.
fn print_instruction_counts() {
    let valgrind = std::process::Command::new("valgrind")
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !valgrind {
        println!("\ninstructions per request: skipped, valgrind not found (see benches/README.md)");
        return;
    }
    let [short, long] = COUNTED_RUNS;
    let per_request: Vec<Option<u64>> = VARIANTS
        .iter()
        .map(|variant| {
            let short = callgrind_instructions(variant, short)?;
            let long = callgrind_instructions(variant, long)?;
            Some(long.saturating_sub(short) / (COUNTED_RUNS[1] - COUNTED_RUNS[0]))
        })
        .collect();
    println!(
        "\ninstructions per request (callgrind, (Ir({long}) - Ir({short})) / {} requests):",
        long - short
    );
    for (variant, count) in VARIANTS.iter().zip(&per_request) {
        match count {
            Some(count) => println!("  {variant} {count}"),
            None => println!("  {variant}: callgrind failed"),
        }
    }
    let over = |variant: usize, base: usize| Some(per_request[variant]? as i64 - per_request[base]? as i64);
    if let (Some(layer), Some(around)) = (over(2, 1), over(3, 0)) {
        println!(
            "  ours through Router::layer, above passthrough_layer: {layer} (target <= 1000); \
             around the whole router, above bare: {around} (target <= 1100)"
        );
    }
}

/// The median time per request of `function`, from criterion's report of this run.
fn median_ns(function: &str) -> Option<f64> {
    criterion_report::median_ns(&[GROUP, function])
}

fn print_summary() {
    let names = [
        "bare",
        "passthrough_layer",
        "tower_prometheus",
        "axum_prometheus",
        "bare_2_threads",
        "tower_prometheus_2_threads",
        "tower_prometheus_around_router",
    ];
    let Some([bare, floor, ours, peer, bare2, ours2, around]) = names
        .iter()
        .map(|name| median_ns(name))
        .collect::<Option<Vec<_>>>()
        .and_then(|medians| <[f64; 7]>::try_from(medians).ok())
    else {
        return;
    };
    let ours_overhead = ours - bare;
    let peer_overhead = peer - bare;
    println!("\nmiddleware summary (medians of this run, ns per request):");
    println!(
        "  bare {bare:.0}, passthrough_layer {floor:.0}, tower_prometheus {ours:.0}, axum_prometheus {peer:.0}"
    );
    println!(
        "  a body-wrapping layer costs {:.0} ns in axum by itself; ours above that: {:.0} ns",
        floor - bare,
        ours - floor
    );
    println!("  tower_prometheus overhead: {ours_overhead:.0} ns (target <= 150 ns)");
    println!(
        "  our layer around the whole router (no Router::layer): {:.0} ns over bare",
        around - bare
    );
    println!(
        "  axum_prometheus overhead: {peer_overhead:.0} ns; ours / theirs = {:.2} (target <= 0.5)",
        ours_overhead / peer_overhead
    );
    println!(
        "  2 threads vs 1 (throughput): tower_prometheus {:.2}x (target >= 1.5), bare {:.2}x",
        ours / ours2,
        bare / bare2
    );
}
