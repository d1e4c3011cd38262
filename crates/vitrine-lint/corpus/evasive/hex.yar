// Markings spelt in hex with jumps, alternatives, masks, XOR and UTF-16.

rule VL101_hex_jump
{
    strings:
        $a = { 54 4F 50 20 53 45 [0-1] 43 52 45 54 }
    condition:
        $a
}

rule VL101_hex_alternative
{
    strings:
        $a = { 54 4F 50 20 ( 53 | 73 ) 45 43 52 45 54 }
    condition:
        $a
}

rule VL101_hex_masked
{
    strings:
        $a = { 54 4F 50 20 53 4? 43 52 45 54 }
    condition:
        $a
}

rule VL101_hex_wildcard
{
    strings:
        $a = { 4E 4F ?? 4F 52 4E 20 }
    condition:
        $a at 0
}

rule VL101_hex_xor
{
    strings:
        $a = { 0E 15 0A 7A 09 1F 19 08 1F 0E }
    condition:
        $a
}

rule VL101_hex_utf16_jump
{
    strings:
        $a = { 4E 00 4F 00 46 00 [0-2] 4F 00 52 00 4E 00 }
    condition:
        $a
}
