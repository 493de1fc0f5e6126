//! The HTTP front: routes each request to an app, serves `public/` files, and forwards
//! the rest to a process checked out of the pool.
