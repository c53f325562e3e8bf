extension Duration {
    /// In seconds, for `\(d.inSeconds) * interval '1 second'` in SQL.
    var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
