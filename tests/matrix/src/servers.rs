//! One database server container per call, as a harness handle. The container is removed
//! when the handle drops.

use cairn_testcontainers::testcontainers::Container;
use cairn_testcontainers::Database;
use cairn_tests::{My, Pg, RedisServer};

/// A PostgreSQL container (trust auth for `postgres` on 127.0.0.1).
pub struct PgServer {
    pub pg: Pg,
    pub version: String,
    _container: Container<Database>,
}

/// A MariaDB container (`root` from 127.0.0.1 without a password).
pub struct MyServer {
    pub my: My,
    pub version: String,
    _container: Container<Database>,
}

/// A Redis or Valkey container.
pub struct RedisBox {
    pub redis: RedisServer,
    pub version: String,
    _container: Container<Database>,
}

fn start(image: Database) -> (u16, Container<Database>) {
    let port = image.port();
    let what = format!("{:?} {}", image.kind(), image.version());
    let container = image.start_blocking().unwrap_or_else(|e| {
        panic!("{what} container did not start: {e}\n(build the images first: scripts/images)")
    });
    (port, container)
}

pub fn postgres(version: &str) -> PgServer {
    let (port, container) = start(Database::postgres(version));
    PgServer {
        pg: Pg {
            host: "127.0.0.1".into(),
            port,
            user: "postgres".into(),
        },
        version: version.into(),
        _container: container,
    }
}

pub fn mariadb(version: &str) -> MyServer {
    let (port, container) = start(Database::mariadb(version));
    MyServer {
        my: My {
            host: "127.0.0.1".into(),
            port,
            user: "root".into(),
        },
        version: version.into(),
        _container: container,
    }
}

pub fn redis(version: &str) -> RedisBox {
    redis_like(Database::redis(version))
}

pub fn valkey(version: &str) -> RedisBox {
    redis_like(Database::valkey(version))
}

fn redis_like(image: Database) -> RedisBox {
    let version = image.version().to_string();
    let (port, container) = start(image);
    RedisBox {
        redis: RedisServer::at(port),
        version,
        _container: container,
    }
}
