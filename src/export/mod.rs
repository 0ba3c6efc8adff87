//! Delivery to shared backends: the small blocking HTTP client that exporters (Pushgateway
//! push, OTLP/HTTP) share. Exporters never fail a run: they return errors for the caller to
//! report once.

pub mod http;
