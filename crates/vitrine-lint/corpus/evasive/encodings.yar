// Markings behind string modifiers, base64 and other scripts.

rule VL101_xor_modifier
{
    strings:
        $a = "TOP SECRET" xor(0x01-0xff)
    condition:
        $a
}

rule VL101_base64_modifier
{
    strings:
        $a = "NOFORN" base64
    condition:
        $a
}

rule VL101_base64wide_modifier
{
    strings:
        $a = "TS//SCI" base64wide
    condition:
        $a
}

rule VL101_base64_by_hand
{
    strings:
        // base64 of "xTOP SECRET//NOFORN" with its first two characters cut
        $a = "RPUCBTRUNSRVQvL05PRk9STg"
    condition:
        $a
}

rule VL101_nocase_mixed
{
    strings:
        $a = "Top Secret" nocase
    condition:
        $a
}

rule VL101_russian_wide
{
    strings:
        $a = "совершенно секретно" wide nocase
    condition:
        $a
}

rule VL101_german_nocase
{
    strings:
        $a = "VS-Nur für den Dienstgebrauch" nocase
    condition:
        $a
}
