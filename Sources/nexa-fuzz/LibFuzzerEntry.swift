#if LIBFUZZER
/// libFuzzer's driver (compiler-rt), which parses libFuzzer's flags and runs the fuzzing loop.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// The executable's entry point in a libFuzzer build (`make fuzz`: `-sanitize=fuzzer -DLIBFUZZER`,
/// coverage guided). SwiftPM links an executable's `main` to `<module>_main`, so this is it.
@_cdecl("nexa_fuzz_main")
public func libFuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in
        FuzzTarget.run(UnsafeRawBufferPointer(start: data, count: size))
        return 0
    }
}
#endif
