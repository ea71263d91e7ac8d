//! Databases the benchmark creates for itself, and drops.

use anyhow::Context;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;

/// A database made for one measurement.
pub struct BenchDb {
    pub name: String,
    pub url: String,
    admin_url: String,
}

/// `admin` with its database replaced by `name`, keeping its parameters (`?sslmode=…`).
pub fn with_database(admin: &str, name: &str) -> String {
    let (base, params) = admin
        .split_once('?')
        .map_or((admin, None), |(b, p)| (b, Some(p)));
    let url = match base.rfind('/') {
        Some(i) if !base[..i].ends_with('/') => format!("{}/{}", &base[..i], name),
        _ => format!("{base}/{name}"),
    };
    match params {
        Some(params) => format!("{url}?{params}"),
        None => url,
    }
}

impl BenchDb {
    /// Creates `ticketd_bench_<what>_<uuid>`.
    pub async fn create(admin_url: &str, what: &str) -> anyhow::Result<Self> {
        let name = format!(
            "ticketd_bench_{what}_{}",
            &Uuid::new_v4().simple().to_string()[..12]
        );
        let mut conn = PgConnection::connect(admin_url)
            .await
            .context("connect to Postgres (--database-url)")?;
        sqlx::query(&format!(r#"CREATE DATABASE "{name}""#))
            .execute(&mut conn)
            .await
            .with_context(|| format!("create database {name}"))?;
        Ok(Self {
            url: with_database(admin_url, &name),
            name,
            admin_url: admin_url.to_string(),
        })
    }

    pub async fn pool(&self, max: u32) -> anyhow::Result<PgPool> {
        PgPoolOptions::new()
            .max_connections(max)
            .connect(&self.url)
            .await
            .with_context(|| format!("connect to {}", self.name))
    }

    pub async fn drop_db(self) {
        if let Ok(mut conn) = PgConnection::connect(&self.admin_url).await {
            let _ = sqlx::query(&format!(
                r#"DROP DATABASE IF EXISTS "{}" WITH (FORCE)"#,
                self.name
            ))
            .execute(&mut conn)
            .await;
        }
    }
}
