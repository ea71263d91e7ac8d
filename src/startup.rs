//! Building and running the application. Tests start it through this same entry point.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use axum::serve::ListenerExt;
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgPool};
use tokio::net::TcpListener;

use crate::auth::Authenticator;
use crate::commands::CommandService;
use crate::domain::TicketServices;
use crate::http::ratelimit::Limiter;
use crate::hub::{Hub, HubConfig};
use crate::settings::Settings;
use crate::state::AppState;
use crate::store::TicketStore;
use crate::supervisor::Supervisor;
use ticket_projections::listen::Notifications;
use ticket_projections::sequencer::{self, Announcer, SequencerOptions};
use ticket_projections::{CancellationToken, Runner};

/// Histogram buckets of every `*_seconds` metric: 0.5 ms to 10 s, about three per decade.
///
/// Real buckets rather than the exporter's default summaries: quantiles of summaries cannot be
/// added up across instances, bucket counters can (`histogram_quantile(sum by (le) (rate(…)))`).
pub const LATENCY_BUCKETS: [f64; 15] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Buckets of the commands-per-append-batch histogram (a count, not a duration).
const BATCH_BUCKETS: [f64; 11] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

/// The exporter with its buckets: every histogram the engine records is exposed as `_bucket`
/// series. Fails only on empty bucket lists.
fn prometheus_builder() -> Result<PrometheusBuilder, BuildError> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("ticketd_append_batch_commands".into()),
            &BATCH_BUCKETS,
        )?
        .set_buckets(&LATENCY_BUCKETS)
}

/// The process-wide Prometheus recorder (installed once, shared by every app in the process).
pub fn metrics_handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = prometheus_builder().unwrap_or_else(|error| {
            tracing::error!(%error, "cannot configure histogram buckets; exporting summaries");
            PrometheusBuilder::new()
        });
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder was installed first; ours then stays empty.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// How long a pooled connection may sit idle before it is checked on lending.
const IDLE_PING_AFTER: Duration = Duration::from_secs(1);

/// A pool that gives up quickly when Postgres is unreachable (so requests get a 503 rather
/// than hanging) and reconnects by itself when it returns.
pub async fn connect(database_url: &str) -> anyhow::Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(32)
        .min_connections(2)
        .acquire_timeout(Duration::from_secs(3))
        // sqlx pings every connection before lending it by default: a round trip per query.
        // Ping only connections that sat idle (they may have died meanwhile, e.g. in an outage);
        // one in steady use reports its failure on its next query and is dropped.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > IDLE_PING_AFTER {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .connect(database_url)
        .await
        .with_context(|| "cannot connect to the database (DATABASE_URL)")
}

/// Applies the embedded migrations.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::migrate!("./migrations")
        .run(pool)
        .await
        .context("cannot apply database migrations")
}

/// A built application, bound to its port, not yet serving.
pub struct Application {
    port: u16,
    listener: TcpListener,
    state: AppState,
    limiter: Limiter,
    background: Background,
    /// The event store's notifications, shared by every loop that follows the store.
    notifications: Notifications,
}

/// The engine's own loops (sequencer, projectors, relay, timers), supervised: stopped after
/// the server, or when the application is dropped without serving.
#[derive(Default)]
struct Background {
    shutdown: CancellationToken,
    supervisor: Supervisor,
}

impl Background {
    /// Runs `make(stop)` under supervision as `name` until the engine stops.
    fn spawn<F, Fut>(&mut self, name: impl Into<String>, make: F)
    where
        F: Fn(CancellationToken) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let stop = self.shutdown.clone();
        self.spawn_until(name, stop, make);
    }

    /// Runs `make(stop)` under supervision as `name` until `stop` is cancelled.
    fn spawn_until<F, Fut>(&mut self, name: impl Into<String>, stop: CancellationToken, make: F)
    where
        F: Fn(CancellationToken) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let token = stop.clone();
        self.supervisor
            .spawn(name, stop, move || make(token.clone()));
    }

    /// Cancels the loops and waits (briefly) for a batch in progress to commit or roll back.
    async fn stop(mut self) {
        self.shutdown.cancel();
        let supervisor = std::mem::take(&mut self.supervisor);
        if !supervisor.join(Duration::from_secs(10)).await {
            tracing::warn!("background tasks did not stop within 10 s");
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Application {
    /// Connects, migrates, and binds `settings.bind_addr`.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let pool = connect(&settings.database_url).await?;
        migrate(&pool).await?;
        Self::build_with_pool(settings, pool).await
    }

    /// Like [`Application::build`] on an existing, migrated pool.
    pub async fn build_with_pool(settings: Settings, pool: PgPool) -> anyhow::Result<Self> {
        metrics_handle();
        let listener = TcpListener::bind(settings.bind_addr)
            .await
            .with_context(|| format!("cannot listen on {}", settings.bind_addr))?;
        let port = listener.local_addr()?.port();
        let auth = Authenticator::new(&settings.auth, pool.clone()).await?;
        let announcer = Announcer::default();
        let store = TicketStore::new(pool.clone(), settings.source.clone(), announcer.clone());
        let commands = Arc::new(CommandService::new(
            pool.clone(),
            store,
            TicketServices {
                sla: settings.sla.clone(),
            },
        ));
        let limiter = Limiter::new(settings.rate_limit);
        // The read side runs in every instance: the sequencer's advisory lock and the
        // checkpoint row locks make the instances take turns. Every loop is supervised: a panic
        // is logged and the loop restarted (see `supervisor`).
        let mut background = Background::default();
        let notifications = Notifications::new();
        {
            let (notifications, pool) = (notifications.clone(), pool.clone());
            background.spawn("listener", move |stop| {
                notifications.listen(pool.clone(), stop)
            });
        }
        let projections = Runner::new(pool.clone(), ticket_projections::read_models::all());
        {
            let (announcer, pool) = (announcer.clone(), pool.clone());
            background.spawn("announcer", move |stop| {
                announcer.clone().run(pool.clone(), stop)
            });
        }
        {
            let (notifications, pool) = (notifications.clone(), pool.clone());
            background.spawn("sequencer", move |stop| {
                sequencer::run(
                    pool.clone(),
                    SequencerOptions::default(),
                    notifications.clone(),
                    stop,
                )
            });
        }
        {
            let (runner, notifications) = (projections.clone(), notifications.clone());
            background.spawn("projections:head", move |stop| {
                runner.clone().follow_positions(notifications.clone(), stop)
            });
        }
        {
            let runner = projections.clone();
            background.spawn("projections:poll", move |stop| {
                let runner = runner.clone();
                async move { runner.poll_head(stop).await }
            });
        }
        for (index, projection) in projections.projections().iter().enumerate() {
            let runner = projections.clone();
            background.spawn(format!("projector:{}", projection.name()), move |stop| {
                let runner = runner.clone();
                async move { runner.drive(index, stop).await }
            });
        }
        {
            let (pool, commands) = (pool.clone(), commands.clone());
            let interval = settings.sla_sweep_interval;
            background.spawn("sla_timer", move |stop| {
                crate::sla_timer::run(pool.clone(), commands.clone(), interval, stop)
            });
        }
        // NATS relay (CONTRACT 5), only with NATS_URL. It connects in the background: start-up
        // neither waits for nor fails on a NATS server that is down.
        let nats = match settings.nats_url.as_deref() {
            Some(url) => {
                let (relay, _) = crate::relay::NatsRelay::start(
                    url,
                    crate::relay::nats_config(&settings),
                    pool.clone(),
                    &notifications,
                    background.shutdown.clone(),
                )
                .await
                .context("cannot start the NATS relay (NATS_URL, NATS_STREAM)")?;
                let (this, pool, notifications) =
                    (relay.clone(), pool.clone(), notifications.clone());
                background.spawn("relay", move |stop| {
                    this.run(pool.clone(), &notifications, stop)
                });
                Some(relay)
            }
            None => None,
        };
        let state = AppState {
            projections,
            pool,
            settings: Arc::new(settings),
            auth: Arc::new(auth),
            commands,
            hub: Hub::new(HubConfig::default()),
            nats,
            tasks: background.supervisor.tasks().clone(),
            limiter: limiter.clone(),
        };
        Ok(Self {
            port,
            listener,
            state,
            limiter,
            background,
            notifications,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The shared state (for tests and tools).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Replaces the WebSocket hub's configuration (tests shrink its queues); call before
    /// [`Application::run_until_stopped`].
    pub fn with_hub_config(mut self, config: HubConfig) -> Self {
        self.state.hub = Hub::new(config);
        self
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let mut background = self.background;
        // Stopped when serving ends (the WebSocket feed stops with the hub, before the loops).
        let serving = background.shutdown.child_token();
        let limiter = self.limiter.clone();
        background.spawn_until("janitor", serving.clone(), move |stop| {
            let limiter = limiter.clone();
            async move {
                let mut tick = tokio::time::interval(Duration::from_secs(60));
                loop {
                    tokio::select! {
                        () = stop.cancelled() => return,
                        _ = tick.tick() => limiter.shrink(),
                    }
                }
            }
        });
        // WebSocket hub: its feed runs while serving; when `shutdown` completes, its
        // connections close with 1001 (and the server then has no upgraded connection to wait for).
        let hub = self.state.hub.clone();
        {
            let (hub, pool, notifications) = (
                hub.clone(),
                self.state.pool.clone(),
                self.notifications.clone(),
            );
            background.spawn_until("ws_feed", serving.clone(), move |_| {
                hub.feed(pool.clone(), &notifications)
            });
        }
        let shutdown = {
            let hub = hub.clone();
            let serving = serving.clone();
            async move {
                shutdown.await;
                serving.cancel();
                hub.shutdown();
            }
        };
        let app = crate::http::app(self.state);
        // Without TCP_NODELAY a WebSocket's second small frame waits for the client's delayed
        // ACK of the first (up to 40 ms on Linux): push p99 was 45 ms against 12 ms to JetStream.
        let listener = self.listener.tap_io(|tcp| {
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::debug!(%error, "cannot set TCP_NODELAY on a connection");
            }
        });
        let served = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
        .context("HTTP server failed");
        serving.cancel();
        hub.shutdown();
        hub.closed(Duration::from_secs(5)).await;
        background.stop().await;
        served
    }
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
