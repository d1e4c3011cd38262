rule Dragnet_Always
{
    condition:
        true
}

rule Dragnet_Filesize
{
    condition:
        filesize > 10KB and filesize < 20MB
}

rule Dragnet_Tiny_Atoms
{
    strings:
        $a = "PK"
        $b = { 25 50 }
        $c = "meeting notes at the embassy"
    condition:
        any of them
}

rule Slow_Short_Atom
{
    strings:
        $a = "ab"
        $b = "this is a long enough string"
    condition:
        $a and $b
}
