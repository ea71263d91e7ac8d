//! Building and running the application. Tests start it through this same entry point.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::serve::ListenerExt;
use sqlx::PgPool;
use tokio::net::TcpListener;

// Callers that start the engine (tests, the benchmark) find the database helpers here too.
pub use crate::db::{connect, migrate};

use crate::auth::device::DeviceKey;
use crate::auth::Authenticator;
use crate::command_service::CommandService;
use crate::domain::TicketServices;
use crate::email::reset_mail::ResetMailer;
use crate::http::credentials::Credentials;
use crate::http::limiter::Limiter;
use crate::http::shared_answers::SharedAnswers;
use crate::http::AppState;
use crate::hub::{Hub, HubConfig};
use crate::settings::Settings;
use crate::store::TicketStore;
use crate::supervisor::Supervisor;
use ticket_projections::listen::Notifications;
use ticket_projections::sequencer::{self, Announcer, SequencerOptions};
use ticket_projections::{CancellationToken, Runner};

/// A built application, bound to its port, not yet serving.
pub struct Application {
    port: u16,
    listener: TcpListener,
    state: AppState,
    limiter: Limiter,
    background: Background,
    /// The event store's notifications, shared by every loop that follows the store.
    notifications: Notifications,
    /// The SMTP listener's port, when `SMTP_LISTEN_ADDR` is set.
    smtp_port: Option<u16>,
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
        crate::telemetry::metrics_handle();
        crate::field_definitions::record_unrecorded(&pool, &settings.source)
            .await
            .context("cannot record the earlier field definitions as events")?;
        let listener = TcpListener::bind(settings.bind_addr)
            .await
            .with_context(|| format!("cannot listen on {}", settings.bind_addr))?;
        let port = listener.local_addr()?.port();
        let auth = Authenticator::new(&settings.auth, pool.clone())
            .await?
            .with_source(&settings.source);
        // One per process: the listener's wake-ups, and the in-process ones that skip it.
        let notifications = Notifications::new();
        let announcer = Announcer::new(&notifications);
        let store = TicketStore::new(pool.clone(), settings.source.clone(), announcer.clone());
        let commands = Arc::new(
            CommandService::new(
                pool.clone(),
                store,
                TicketServices {
                    sla: settings.sla.clone(),
                    ..Default::default()
                },
            )
            .with_default_calendar(settings.sla_default_calendar),
        );
        let limiter = Limiter::new(settings.rate_limit);
        let credentials = Credentials::new(
            settings.accounts.clone(),
            ResetMailer::from_settings(&settings.email)?,
            settings.auth.secret.as_ref().map(DeviceKey::derive),
        );
        // The read side runs in every instance: the sequencer's advisory lock and the
        // checkpoint row locks make the instances take turns. Every loop is supervised: a panic
        // is logged and the loop restarted (see `supervisor`).
        let mut background = Background::default();
        {
            let (notifications, pool) = (notifications.clone(), pool.clone());
            background.spawn("listener", move |stop| {
                notifications.listen(pool.clone(), stop)
            });
        }
        let projections = Runner::new(
            pool.clone(),
            ticket_projections::read_models::all(commands.clone()),
        );
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
            let (pool, commands, runner) = (pool.clone(), commands.clone(), projections.clone());
            let cap = settings.sla_sweep_interval;
            background.spawn("sla_timer", move |stop| {
                crate::sla_timer::run(pool.clone(), commands.clone(), runner.clone(), cap, stop)
            });
        }
        // Attachments (CONTRACT 10): files never listed by a comment go after 24 h.
        let attachments = crate::attachments::Attachments::open(&settings.attachments)
            .context("cannot open the attachment store (ATTACHMENT_STORE, ATTACHMENT_DIR)")?;
        {
            let (pool, attachments) = (pool.clone(), attachments.clone());
            background.spawn("attachments:orphans", move |stop| {
                let (pool, attachments) = (pool.clone(), attachments.clone());
                async move {
                    let mut tick = tokio::time::interval(Duration::from_secs(600));
                    loop {
                        tokio::select! {
                            () = stop.cancelled() => return,
                            _ = tick.tick() => {
                                let age = crate::attachments::ORPHAN_AGE;
                                if let Err(e) = crate::attachments::sweep_orphans(&pool, &attachments, age).await {
                                    tracing::warn!(error = format!("{e:#}"), "orphan attachments not removed");
                                }
                            }
                        }
                    }
                }
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
        let mail = crate::email::Mail::build(&settings, pool.clone(), commands.clone())
            .await
            .context("cannot set up mail (SMTP_LISTEN_ADDR, IMAP_URL, SMTP_URL, EMAIL_FROM)")?;
        let smtp_port = mail.smtp_port();
        spawn_mail(&mut background, &mail, &pool, &notifications);
        // Webhooks (CONTRACT 8): delivered by one leader among the instances, from the log.
        let webhooks = crate::webhooks::Deliverer::new(pool.clone(), settings.webhooks.clone())
            .context("cannot build the webhook client")?;
        {
            let (deliverer, notifications) = (webhooks.clone(), notifications.clone());
            background.spawn("webhooks", move |stop| {
                deliverer.clone().run(notifications.clone(), stop)
            });
        }
        {
            let pool = pool.clone();
            background.spawn("webhooks:backlog", move |stop| {
                crate::webhooks::deliverer::report_backlog(pool.clone(), stop)
            });
        }
        spawn_rules(&mut background, &settings, &pool, &commands, &notifications)?;
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
            email: mail.channels,
            webhooks,
            attachments,
            answers: SharedAnswers::default(),
            credentials,
            integration_keys: Default::default(),
        };
        Ok(Self {
            port,
            listener,
            state,
            limiter,
            background,
            notifications,
            smtp_port,
        })
    }

    /// The SMTP listener's port, when `SMTP_LISTEN_ADDR` is set.
    pub fn smtp_port(&self) -> Option<u16> {
        self.smtp_port
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
        let credentials = self.state.credentials.clone();
        let pool = self.state.pool.clone();
        background.spawn_until("janitor", serving.clone(), move |stop| {
            let (limiter, credentials, pool) = (limiter.clone(), credentials.clone(), pool.clone());
            async move {
                let mut tick = tokio::time::interval(Duration::from_secs(60));
                loop {
                    tokio::select! {
                        () = stop.cancelled() => return,
                        _ = tick.tick() => {
                            limiter.shrink();
                            credentials.shrink();
                            // A failed sweep is retried on the next tick; the rows it leaves
                            // change no answer, they only take room.
                            let window = credentials.account_budget().window;
                            if let Err(error) = crate::users::sweep::sweep(&pool, window).await {
                                tracing::warn!(%error, "cannot sweep expired credential state");
                            }
                        }
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

/// Runs each configured mail channel under supervision.
fn spawn_mail(
    background: &mut Background,
    mail: &crate::email::Mail,
    pool: &PgPool,
    notifications: &Notifications,
) {
    if let (Some((listener, config)), Some(status)) = (&mail.listener, &mail.channels.smtp_listener)
    {
        let (listener, config, status, inbox) = (
            listener.clone(),
            config.clone(),
            status.clone(),
            mail.inbox.clone(),
        );
        background.spawn("email:smtp_listener", move |stop| {
            crate::email::smtp_listener::serve(
                listener.clone(),
                inbox.clone(),
                config.clone(),
                status.clone(),
                stop,
            )
        });
    }
    if let Some(poller) = &mail.poller {
        let poller = poller.clone();
        background.spawn("email:imap", move |stop| poller.clone().run(stop));
    }
    if let Some(outbound) = &mail.outbound {
        let (outbound, pool, notifications) =
            (outbound.clone(), pool.clone(), notifications.clone());
        background.spawn("email:outbound", move |stop| {
            outbound
                .clone()
                .run(pool.clone(), notifications.clone(), stop)
        });
    }
}

/// The rule processor and the notifier (CONTRACT 8), each led by one instance.
fn spawn_rules(
    background: &mut Background,
    settings: &Settings,
    pool: &PgPool,
    commands: &Arc<CommandService>,
    notifications: &Notifications,
) -> anyhow::Result<()> {
    let queued = Arc::new(tokio::sync::Notify::new());
    let mailer = match (&settings.email.smtp_url, &settings.email.from) {
        (Some(url), Some(from)) => {
            use secrecy::ExposeSecret;
            let transport =
                lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(url.expose_secret())
                    .context("SMTP_URL is not an SMTP URL")?
                    .timeout(Some(Duration::from_secs(30)))
                    .build();
            let from = from.parse().context("EMAIL_FROM is not a mailbox")?;
            Some(crate::notify::send::Mailer { transport, from })
        }
        _ => None,
    };
    let sender = crate::notify::send::Sender::new(&settings.notify, &settings.webhooks, mailer)
        .context("cannot build the notification client")?;
    let notifier = crate::notify::outbox::Notifier::new(
        pool.clone(),
        sender,
        settings.notify.clone(),
        queued.clone(),
    );
    background.spawn("notifications", move |stop| notifier.clone().run(stop));
    let processor = crate::rules::processor::Processor::new(
        pool.clone(),
        commands.clone(),
        settings.notify.clone(),
        queued,
    );
    let notifications = notifications.clone();
    background.spawn("rules", move |stop| {
        processor.clone().run(notifications.clone(), stop)
    });
    Ok(())
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
