pub mod subscription;
pub mod types;
