internal import CMessages
internal import CProtobufC

extension Schema {
    /// The schema of everything `protoc-c` generated into the `CMessages` target.
    public static func compiled() -> Schema {
        var reader = DescriptorReader()
        for index in 0..<nexa_message_descriptor_count() {
            let symbol = String(cString: nexa_message_descriptor_symbol(index)!)
            reader.visit(message: nexa_message_descriptor(index)!, symbol: symbol)
        }
        let services = (0..<nexa_service_descriptor_count()).map {
            reader.service(nexa_service_descriptor($0)!)
        }
        return Schema(messages: reader.messages, enums: reader.enums, services: services)
    }
}

/// Walks protobuf-c descriptors; owns no memory (descriptors are static).
private struct DescriptorReader {
    var messages: [Schema.Message] = []
    var enums: [Schema.Enum] = []
    private var seenEnums: Set<String> = []

    mutating func visit(message descriptor: UnsafePointer<ProtobufCMessageDescriptor>, symbol: String) {
        let d = descriptor.pointee
        var fields: [Schema.Field] = []
        for i in 0..<Int(d.n_fields) {
            let f = d.fields[i]
            fields.append(Schema.Field(
                name: String(cString: f.name),
                number: f.id,
                label: label(f.label),
                kind: kind(f),
                isOneofMember: (f.flags & UInt32(PROTOBUF_C_FIELD_FLAG_ONEOF.rawValue)) != 0
            ))
        }
        messages.append(Schema.Message(
            fullName: String(cString: d.name),
            package: String(cString: d.package_name),
            cName: String(cString: d.c_name),
            descriptorSymbol: symbol,
            fields: fields,
            oneofCount: fields.contains(where: \.isOneofMember) ? 1 : 0
        ))
    }

    func service(_ descriptor: UnsafePointer<ProtobufCServiceDescriptor>) -> Schema.Service {
        let d = descriptor.pointee
        let methods = (0..<Int(d.n_methods)).map { i in
            let m = d.methods[i]
            return Schema.Method(
                name: String(cString: m.name),
                inputType: String(cString: m.input.pointee.name),
                outputType: String(cString: m.output.pointee.name)
            )
        }
        return Schema.Service(
            fullName: String(cString: d.name),
            package: String(cString: d.package),
            shortName: String(cString: d.short_name),
            methods: methods
        )
    }

    private func label(_ label: ProtobufCLabel) -> Schema.Field.Label {
        switch label {
        case PROTOBUF_C_LABEL_REQUIRED: .required
        case PROTOBUF_C_LABEL_OPTIONAL: .optional
        case PROTOBUF_C_LABEL_REPEATED: .repeated
        default: .none
        }
    }

    private mutating func kind(_ f: ProtobufCFieldDescriptor) -> Schema.Field.Kind {
        switch f.type {
        case PROTOBUF_C_TYPE_INT32: return .int32
        case PROTOBUF_C_TYPE_SINT32: return .sint32
        case PROTOBUF_C_TYPE_SFIXED32: return .sfixed32
        case PROTOBUF_C_TYPE_INT64: return .int64
        case PROTOBUF_C_TYPE_SINT64: return .sint64
        case PROTOBUF_C_TYPE_SFIXED64: return .sfixed64
        case PROTOBUF_C_TYPE_UINT32: return .uint32
        case PROTOBUF_C_TYPE_FIXED32: return .fixed32
        case PROTOBUF_C_TYPE_UINT64: return .uint64
        case PROTOBUF_C_TYPE_FIXED64: return .fixed64
        case PROTOBUF_C_TYPE_FLOAT: return .float
        case PROTOBUF_C_TYPE_DOUBLE: return .double
        case PROTOBUF_C_TYPE_BOOL: return .bool
        case PROTOBUF_C_TYPE_STRING: return .string
        case PROTOBUF_C_TYPE_BYTES: return .bytes
        case PROTOBUF_C_TYPE_ENUM:
            let e = f.descriptor.assumingMemoryBound(to: ProtobufCEnumDescriptor.self)
            return .enumeration(record(enum: e))
        default:
            let m = f.descriptor.assumingMemoryBound(to: ProtobufCMessageDescriptor.self)
            return .message(String(cString: m.pointee.name))
        }
    }

    private mutating func record(enum descriptor: UnsafePointer<ProtobufCEnumDescriptor>) -> String {
        let d = descriptor.pointee
        let name = String(cString: d.name)
        if seenEnums.insert(name).inserted {
            let values = (0..<Int(d.n_values)).map { i in
                (name: String(cString: d.values[i].name), number: d.values[i].value)
            }
            enums.append(Schema.Enum(
                fullName: name,
                package: String(cString: d.package_name),
                cName: String(cString: d.c_name),
                values: values
            ))
        }
        return name
    }
}
