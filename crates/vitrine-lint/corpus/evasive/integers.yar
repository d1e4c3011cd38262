// Markings read as integers at fixed or relative offsets, and in loops.

rule VL101_uint32_reads
{
    condition:
        uint32(0) == 0x20504f54 and uint32(4) == 0x52434553
}

rule VL101_uint16be_reads
{
    condition:
        uint16be(0) == 0x4e4f and uint16be(2) == 0x464f and uint16be(4) == 0x524e
}

rule VL101_uint8_xor_reads
{
    condition:
        uint8(0) ^ 0x55 == 0x4E ^ 0x55 and uint8(1) ^ 0x55 == 0x4F ^ 0x55 and
        uint8(2) ^ 0x55 == 0x46 ^ 0x55 and uint8(3) ^ 0x55 == 0x4F ^ 0x55 and
        uint8(4) ^ 0x55 == 0x52 ^ 0x55 and uint8(5) ^ 0x55 == 0x4E ^ 0x55
}

rule VL101_for_loop_reads
{
    condition:
        for any i in (0..filesize) : (
            uint32be(i) == 0x544F5020 and uint32be(i + 4) == 0x53454352 and uint16be(i + 8) == 0x4554
        )
}

rule VL101_relative_reads
{
    strings:
        $a = "COSMIC "
    condition:
        $a and uint32be(@a[1] + 7) == 0x544F5020 and uint32be(@a[1] + 11) == 0x53454352
            and uint16be(@a[1] + 15) == 0x4554
}

rule VL101_mixed_string_and_read
{
    strings:
        $a = "CONFIDENTIAL"
    condition:
        $a at 5 and uint32be(0) == 0x4E41544F
}

rule VL301_pdf_by_integer
{
    strings:
        $k = "merger negotiation" nocase
    condition:
        uint32(0) == 0x46445025 and $k
}
