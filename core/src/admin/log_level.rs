//! Log levels as Passenger numbers and names them, and their `tracing` counterparts.

/// Log levels, Passenger's numbering (`log_level` 0..=7) and names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// 0
    Crit,
    /// 1
    Error,
    /// 2
    Warn,
    /// 3, Passenger's default.
    Notice,
    /// 4
    Info,
    /// 5
    Debug,
    /// 6
    Debug2,
    /// 7
    Debug3,
}

impl LogLevel {
    const ALL: [LogLevel; 8] = [
        LogLevel::Crit,
        LogLevel::Error,
        LogLevel::Warn,
        LogLevel::Notice,
        LogLevel::Info,
        LogLevel::Debug,
        LogLevel::Debug2,
        LogLevel::Debug3,
    ];

    /// The name used in `/config.json`.
    pub fn name(self) -> &'static str {
        match self {
            LogLevel::Crit => "crit",
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Notice => "notice",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Debug2 => "debug2",
            LogLevel::Debug3 => "debug3",
        }
    }

    /// Passenger's number for this level.
    pub fn number(self) -> u8 {
        self as u8
    }

    /// The closest `tracing` level (crit/error → ERROR, notice/info → INFO,
    /// debug2/debug3 → TRACE).
    pub fn tracing_level(self) -> tracing::Level {
        match self {
            LogLevel::Crit | LogLevel::Error => tracing::Level::ERROR,
            LogLevel::Warn => tracing::Level::WARN,
            LogLevel::Notice | LogLevel::Info => tracing::Level::INFO,
            LogLevel::Debug => tracing::Level::DEBUG,
            LogLevel::Debug2 | LogLevel::Debug3 => tracing::Level::TRACE,
        }
    }

    /// Parses a name (Passenger's or `tracing`'s: `trace` = debug3, `warning` =
    /// warn) or a number 0..=7.
    pub fn parse(text: &str) -> Option<LogLevel> {
        let lower = text.trim().to_ascii_lowercase();
        if let Ok(n) = lower.parse::<usize>() {
            return Self::ALL.get(n).copied();
        }
        match lower.as_str() {
            "trace" => Some(LogLevel::Debug3),
            "warning" => Some(LogLevel::Warn),
            "critical" => Some(LogLevel::Crit),
            other => Self::ALL.iter().copied().find(|l| l.name() == other),
        }
    }
}
