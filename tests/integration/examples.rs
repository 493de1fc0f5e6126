//! The bundled example apps under `examples/` work as documented.

use crate::support::{get, Server, TestDir};

#[test]
fn the_hello_example_serves_its_app_and_static_file() {
    let dir = TestDir::new();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/hello");
    // The Passengerfile says port 3000; the command line wins so tests never use a fixed port.
    let server = Server::start(&dir, &["start", root, "--port", "0"]);

    let resp = get(server.addr, "/");
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert!(
        resp.text().contains("Hello from Passenger"),
        "{}",
        resp.text()
    );

    let resp = get(server.addr, "/hello.txt");
    assert_eq!(resp.status, 200);
    assert!(resp.text().contains("served straight from public/"));
}
