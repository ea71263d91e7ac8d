//! Building and running the application. Tests start it through this same entry point.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use tokio::net::TcpListener;

use crate::auth::Authenticator;
use crate::commands::CommandService;
use crate::domain::TicketServices;
use crate::http::ratelimit::Limiter;
use crate::settings::Settings;
use crate::state::AppState;
use crate::store::TicketStore;

/// The process-wide Prometheus recorder (installed once, shared by every app in the process).
pub fn metrics_handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder was installed first; ours then stays empty.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// A pool that gives up quickly when Postgres is unreachable (so requests get a 503 rather
/// than hanging) and reconnects by itself when it returns.
pub async fn connect(database_url: &str) -> anyhow::Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(32)
        .min_connections(2)
        .acquire_timeout(Duration::from_secs(3))
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
        let store = TicketStore::new(pool.clone(), settings.source.clone());
        let commands = CommandService::new(
            pool.clone(),
            store,
            TicketServices {
                sla: settings.sla.clone(),
            },
        );
        let limiter = Limiter::new(settings.rate_limit);
        let state = AppState {
            pool,
            settings: Arc::new(settings),
            auth: Arc::new(auth),
            commands: Arc::new(commands),
        };
        Ok(Self {
            port,
            listener,
            state,
            limiter,
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

    /// Serves until `shutdown` completes, then finishes in-flight requests.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let limiter = self.limiter.clone();
        let janitor = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                limiter.shrink();
            }
        });
        let app = crate::http::app(self.state, self.limiter);
        let served = axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
        .context("HTTP server failed");
        janitor.abort();
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
