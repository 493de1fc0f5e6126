//! The `passenger` multicall binary.

fn main() {
    println!("passenger {}", passenger_core::VERSION);
}
