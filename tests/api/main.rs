//! Integration tests: the real gateway on port 0 against the machine's real
//! MariaDB/MySQL and Redis (`TEST_MYSQL_URL`, `TEST_REDIS_URL`), with small
//! in-test gRPC servers that behave like the ORIGINAL verification and
//! balance services. Each test has its own database (dropped at the end) and
//! its own Redis key prefix, so tests run in parallel.

mod health;
mod helpers;
mod peers;
mod smtp;

mod account;
mod attacks;
mod backends;
mod balance_replicas;
mod balance_service;
mod browser;
mod cli;
mod cluster;
mod confirmation;
mod deploy;
mod faults;
mod limits;
mod login;
mod logs;
mod metrics;
mod pages;
mod protocol;
mod registration;
mod resilience;
mod scale_out;
mod shutdown;
mod supervision;
mod system;
mod verification;
mod verification_service;
